"""Mapping-expression functions: text.

Registered into ``registry.FUNCTIONS`` on import. Semantics follow Entra's reference
(https://learn.microsoft.com/en-us/entra/identity/app-provisioning/functions-for-customizing-application-data).
Regular expressions are written in .NET syntax (``(?<name>...)``, ``${name}``/``$1`` in
replacements) and translated to Python's ``re``.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from typing import Any

from hybridsync.engine.mapping.functions.coerce import as_int, as_str
from hybridsync.engine.mapping.functions.registry import MISSING, Invocation, register

# Letters NFD cannot take apart (Entra's table: æ ae, ø oe, ß ss, ł l, ı i ...), plus the rest of
# Latin-1 / Latin Extended-A/B so that Latin input always comes out ASCII.
_SPECIAL = {
    "æ": "ae", "Æ": "AE", "ø": "oe", "Ø": "OE", "œ": "oe", "Œ": "OE", "ß": "ss", "ẞ": "SS",
    "ł": "l", "Ł": "L", "ı": "i", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
    "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "n", "Ŋ": "N", "ĸ": "k", "ŀ": "l", "Ŀ": "L",
    "ĳ": "ij", "Ĳ": "IJ", "ŉ": "n", "ſ": "s", "ƀ": "b", "Ɓ": "B", "ƃ": "b", "Ƃ": "B", "Ƈ": "C",
    "ƈ": "c", "Ɖ": "D", "Ɗ": "D", "ƌ": "d", "Ƌ": "D", "Ƒ": "F", "ƒ": "f", "Ɠ": "G", "Ɨ": "I",
    "ɨ": "i", "Ƙ": "K", "ƙ": "k", "ƚ": "l", "Ɲ": "N", "ɲ": "n", "ƞ": "n", "Ƞ": "N", "Ɵ": "O",
    "Ƥ": "P", "ƥ": "p", "ƫ": "t", "Ƭ": "T", "ƭ": "t", "Ʈ": "T", "Ʋ": "V", "Ƴ": "Y", "ƴ": "y",
    "Ƶ": "Z", "ƶ": "z", "ȡ": "d", "ȴ": "l", "ȵ": "n", "ȶ": "t", "ȷ": "j", "ȸ": "db", "ȹ": "qp",
    "Ⱥ": "A", "Ȼ": "C", "ȼ": "c", "Ƚ": "L", "Ⱦ": "T", "ȿ": "s", "ɀ": "z", "Ƀ": "B", "Ʉ": "U",
    "Ɇ": "E", "ɇ": "e", "Ɉ": "J", "ɉ": "j", "Ɋ": "Q", "ɋ": "q", "Ɍ": "R", "ɍ": "r", "Ɏ": "Y",
    "ɏ": "y", "ǅ": "Dz", "ǈ": "Lj", "ǋ": "Nj", "ǲ": "Dz", "Ǆ": "DZ", "ǆ": "dz", "Ǉ": "LJ",
    "ǉ": "lj", "Ǌ": "NJ", "ǌ": "nj", "Ǳ": "DZ", "ǳ": "dz", "ƕ": "hv", "Ƕ": "Hv", "ƿ": "w",
    "Ƿ": "W", "Ƣ": "OI", "ƣ": "oi", "ȣ": "ou", "Ȣ": "OU", "ƪ": "sh", "ƻ": "2", "Ƽ": "5",
    "ƽ": "5", "ƾ": "ts", "ǀ": "|", "ǁ": "||", "ǂ": "|", "ǃ": "!", "Ə": "E", "ə": "e",
    "Ɛ": "E", "Ǝ": "E", "ǝ": "e", "Ɔ": "O", "Ɣ": "G", "Ɩ": "I", "Ɯ": "M", "Ʃ": "SH", "Ʊ": "U",
    "Ʒ": "ZH", "Ƹ": "ZH", "ƹ": "zh", "ƺ": "zh", "ǯ": "zh", "Ǯ": "ZH", "ȝ": "y", "Ȝ": "Y",
    "ƛ": "l", "Ǥ": "G", "ǥ": "g", "Ȥ": "Z", "ȥ": "z", "Ʌ": "V", "ʒ": "zh", "Ɂ": "?", "ɂ": "?", "ƍ": "d", "Ʀ": "R", "ƨ": "s", "Ƨ": "S", "ƅ": "b",
    "Ƅ": "B", "Ɑ": "A",
}


def normalize_diacritics(text: str) -> str:
    out: list[str] = []
    latin_before = False  # drop combining marks that follow a normalized Latin letter (ā́)
    for ch in unicodedata.normalize("NFC", text):
        if unicodedata.combining(ch):
            if not latin_before:
                out.append(ch)
            continue
        decomposed = unicodedata.normalize("NFD", ch)
        base = decomposed[0]
        if base in _SPECIAL:
            out.append(_SPECIAL[base])
            latin_before = True
        elif base.isascii() and (len(decomposed) > 1 or base.isalpha()):
            out.append(base)
            latin_before = True
        else:
            out.append(ch)
            latin_before = False
    return "".join(out)


@register("NormalizeDiacritics", 1)
def normalize_diacritics_(inv: Invocation, v: Any) -> str | None:
    text = as_str(v)
    return None if text is None else normalize_diacritics(text)


@register("Append", 2)
def append(inv: Invocation, source: Any, suffix: Any) -> str | None:
    text = as_str(source)
    if text is None:
        return None
    return text + (as_str(suffix) or "")


@register("ConvertToBase64", 1)
def convert_to_base64(inv: Invocation, v: Any) -> str | None:
    # "converts a string to a Unicode base64 string": .NET Unicode is UTF-16LE.
    text = as_str(v)
    return None if text is None else base64.b64encode(text.encode("utf-16-le")).decode("ascii")


@register("ConvertToUTF8Hex", 1)
def convert_to_utf8_hex(inv: Invocation, v: Any) -> str | None:
    text = as_str(v)
    return None if text is None else text.encode("utf-8").hex().upper()


def _check_instr(args: list[Any]) -> tuple[int, str] | None:
    mode = args[3] if len(args) > 3 else MISSING
    if isinstance(mode, str) and mode.lower() not in ("vbbinarycompare", "vbtextcompare"):
        return 3, f"compareType must be vbBinaryCompare or vbTextCompare, got {mode!r}"
    return None


@register("InStr", 2, 4, required=(0, 1), check=_check_instr)
def instr(inv: Invocation, value1: Any, value2: Any, start: Any = MISSING, compare: Any = MISSING) -> int | None:
    hay, needle = as_str(value1), as_str(value2)
    if hay is None or needle is None:
        return None
    pos = 1 if start is MISSING or start is None else as_int(inv, start, "start")
    if pos is None or pos < 1:
        raise inv.fail(f"start must be 1 or more, got {pos}")
    mode = (as_str(compare) or "vbBinaryCompare").lower()
    if mode not in ("vbbinarycompare", "vbtextcompare", "0", "1"):
        raise inv.fail(f"compareType must be vbBinaryCompare or vbTextCompare, got {mode!r}")
    if mode in ("vbtextcompare", "1"):
        hay, needle = hay.casefold(), needle.casefold()
    if pos > len(hay):
        return 0
    return hay.find(needle, pos - 1) + 1


@register("Left", 2)
def left(inv: Invocation, s: Any, n: Any) -> str:
    text = as_str(s)
    count = as_int(inv, n, "NumChars")
    if text is None:
        return ""  # documented: "If string is null, return empty string."
    if count is None or count < 0:
        return text
    return text[:count]


@register("Mid", 3)
def mid(inv: Invocation, s: Any, start: Any, length: Any) -> str | None:
    text = as_str(s)
    begin, count = as_int(inv, start, "start"), as_int(inv, length, "length")
    if text is None or begin is None or count is None:
        return None
    if begin < 1:
        raise inv.fail(f"start counts from 1, got {begin}")
    if count < 0:
        raise inv.fail(f"length must not be negative, got {count}")
    return text[begin - 1 : begin - 1 + count]


@register("StripSpaces", 1)
def strip_spaces(inv: Invocation, v: Any) -> str | None:
    text = as_str(v)
    return None if text is None else text.replace(" ", "")


def _turkic(culture: Any) -> bool:
    c = (as_str(culture) or "").lower()
    return c.startswith("tr") or c.startswith("az")


@register("ToLower", 1, 2)
def to_lower(inv: Invocation, v: Any, culture: Any = MISSING) -> str | None:
    text = as_str(v)
    if text is None:
        return None
    if _turkic(culture):
        text = text.replace("I", "ı").replace("İ", "i")
    return text.lower()


@register("ToUpper", 1, 2)
def to_upper(inv: Invocation, v: Any, culture: Any = MISSING) -> str | None:
    text = as_str(v)
    if text is None:
        return None
    if _turkic(culture):
        text = text.replace("i", "İ").replace("ı", "I")
    return text.upper()


def _default_separator(ch: str) -> bool:
    # .NET ToTitleCase: letters, marks and digits make up words; everything else separates.
    return not unicodedata.category(ch)[0] in "LMN"


@register("PCase", 1, 2)
def pcase(inv: Invocation, v: Any, separators: Any = MISSING) -> str | None:
    text = as_str(v)
    if text is None:
        return None
    seps = as_str(separators) if separators is not MISSING else None
    is_sep = (lambda c: c in seps) if seps else _default_separator
    out: list[str] = []
    start = True
    for ch in text:
        if is_sep(ch):
            out.append(ch)
            start = True
        else:
            out.append(ch.upper() if start else ch.lower())
            start = False
    return "".join(out)


@register("Word", 3)
def word(inv: Invocation, s: Any, number: Any, delimiters: Any) -> str:
    text = as_str(s)
    n = as_int(inv, number, "WordNumber")
    if text is None or n is None or n < 1:
        return ""
    delims = as_str(delimiters) or ""
    words = [w for w in re.split("[" + re.escape(delims) + "]", text) if w] if delims else [text]
    return words[n - 1] if n <= len(words) else ""


# --------------------------------------------------------------------------------------------
# Replace (7 parameters, plain and regex forms)
# --------------------------------------------------------------------------------------------

_NET_GROUP = re.compile(r"\(\?<(?![=!])([A-Za-z_][A-Za-z0-9_]*)>|\(\?'([A-Za-z_][A-Za-z0-9_]*)'")
_NET_BACKREF = re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>")


def compile_dotnet(pattern: str) -> re.Pattern[str]:
    """Compile a .NET regex: named groups ``(?<n>..)``/``(?'n'..)`` and ``\\k<n>`` translated."""
    py = _NET_GROUP.sub(lambda m: f"(?P<{m.group(1) or m.group(2)}>", pattern)
    return re.compile(_NET_BACKREF.sub(r"(?P=\1)", py))


def dotnet_regex(inv: Invocation, pattern: str) -> re.Pattern[str]:
    try:
        return compile_dotnet(pattern)
    except re.error as exc:
        raise inv.fail(f"invalid regexPattern {pattern!r}: {exc}") from None


def _check_replace(args: list[Any]) -> str | tuple[int, str] | None:
    """Parse-time: the argument combination is one of Entra's forms; literal regexes compile."""
    _src, old, pattern, group, value, attribute, template = args
    if pattern is not MISSING:
        if isinstance(pattern, str):
            try:
                rx = compile_dotnet(pattern)
            except re.error as exc:
                return 2, f"invalid regexPattern {pattern!r}: {exc}"
            if isinstance(group, str) and group and group not in rx.groupindex:
                return 3, f"regexGroupName {group!r} is not a group of the pattern"
        if value is MISSING and (group is MISSING or attribute is MISSING):
            return "the regex form needs replacementValue (or regexGroupName with replacementAttributeName)"
        return None
    if old is not MISSING:
        if value is MISSING and template is MISSING:
            return "oldValue needs replacementValue or template"
        return None
    return "needs oldValue or regexPattern"


def _expand(match: re.Match[str], template: str) -> str:
    """.NET substitutions: ``$1``, ``${name}``, ``$0``/``$&``, ``$$``; other text literal."""

    def group(name: str) -> str:
        try:
            key: int | str = int(name) if name.isdigit() else name
            return match.group(key) or ""
        except IndexError:
            return "$" + name if name.isdigit() else "${" + name + "}"

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "$$":
            return "$"
        if tok == "$&":
            return match.group(0)
        return group(m.group(1) or m.group(2))

    return re.sub(r"\$\$|\$&|\$\{([A-Za-z0-9_]+)\}|\$([0-9]+)", repl, template)


@register("Replace", 7, required=(0,), check=_check_replace)
def replace(
    inv: Invocation,
    source: Any,
    old_value: Any,
    regex_pattern: Any,
    regex_group_name: Any,
    replacement_value: Any,
    replacement_attribute: Any,
    template: Any,
) -> str | None:
    text = as_str(source)

    def given(v: Any) -> bool:  # omitted vs. present-but-null
        return v is not MISSING

    if given(regex_pattern):
        rx = dotnet_regex(inv, as_str(regex_pattern) or "")
        group = as_str(regex_group_name) if given(regex_group_name) else None
        if group and group not in rx.groupindex:
            raise inv.fail(f"regexGroupName {group!r} is not a group of the pattern")
        if group and given(replacement_attribute):
            if text:  # "If source has a value, source is returned"
                return text
            other = as_str(replacement_attribute)
            m = rx.search(other) if other is not None else None
            return m.group(group) if m and m.group(group) is not None else None
        if not given(replacement_value):
            raise inv.fail("the regex form needs replacementValue (or regexGroupName with replacementAttributeName)")
        if text is None:
            return None
        value = as_str(replacement_value) or ""
        if group:
            return _replace_group(rx, group, text, value)
        return rx.sub(lambda m: _expand(m, value), text)
    if given(old_value):
        old = as_str(old_value) or ""
        if given(template):
            tpl = as_str(template)
            if text is None or tpl is None:
                return None
            return tpl.replace(old, text) if old else tpl
        if not given(replacement_value):
            raise inv.fail("oldValue needs replacementValue or template")
        if text is None:
            return None
        return text.replace(old, as_str(replacement_value) or "") if old else text
    raise inv.fail("needs oldValue or regexPattern")


def _replace_group(rx: re.Pattern[str], group: str, text: str, value: str) -> str:
    out: list[str] = []
    pos = 0
    for m in rx.finditer(text):
        start, end = m.span(group)
        if start < 0:
            continue
        out.append(text[pos:start])
        out.append(value)
        pos = end
    out.append(text[pos:])
    return "".join(out)
