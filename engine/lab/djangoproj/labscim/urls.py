"""URLs of the lab's Django project: django-scim2 under /scim/v2, the backdoor under /_lab."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django_scim.adapters import SCIMGroup, SCIMUser

from labscim import middleware
from labscim.models import Group, User


def _dump(obj: Any, members: bool = True, request: Any = None) -> dict[str, Any]:
    adapter = SCIMGroup(obj, request) if isinstance(obj, Group) else SCIMUser(obj, request)
    data = adapter.to_dict()
    if not members:
        data.pop("members", None)
    return data


def _find(rid: str) -> Any:
    kind, _, pk = rid.partition("-")
    model = {"u": User, "g": Group}.get(kind)
    if model is None or not pk.isdigit():
        return model and None
    return model.objects.filter(scim_id=pk).first()


@csrf_exempt
def backdoor(request: Any, rest: str) -> HttpResponse:
    if not secrets.compare_digest(request.headers.get("X-Lab-Backdoor", ""), settings.LAB_BACKDOOR):
        return HttpResponse(status=401)
    body = json.loads(request.body) if request.body else None
    if rest == "reset":
        User.objects.all().delete()
        Group.objects.all().delete()
        with connection.cursor() as cursor:  # numbered from 1 again, as a fresh server (users and
            cursor.execute("DELETE FROM sqlite_sequence")  # groups both: user 2 and group 2 exist)
        middleware.counts.clear()
        return HttpResponse(status=204)
    if rest == "requests":
        return JsonResponse(dict(middleware.counts))
    if rest == "resources":
        wanted = request.GET.get("type") or None
        members = request.GET.get("members", "1") == "1"
        out = []
        if wanted in (None, "User"):
            out += [_dump(u, members, request) for u in User.objects.order_by("id")]
        if wanted in (None, "Group"):
            out += [_dump(g, members, request) for g in Group.objects.order_by("id")]
        return JsonResponse(out, safe=False)
    if rest.startswith("resources/"):
        rid = rest.split("/", 1)[1]
        found = User.objects.filter(scim_id=rid).first() or Group.objects.filter(scim_id=rid).first()
        if found is None:
            return HttpResponse(status=404)
        if request.method == "DELETE":
            found.delete()
            return HttpResponse(status=204)
        return JsonResponse(_dump(found, True, request))
    if rest == "seed":
        out = []
        for r in body["resources"]:
            if body["type"] == "User":
                adapter: Any = SCIMUser(User(), request)
            else:
                adapter = SCIMGroup(Group(), request)
            adapter.from_dict(r)
            adapter.save()
            if body["type"] == "Group":
                for m in r.get("members") or ():
                    adapter.obj.user_set.add(User.objects.get(scim_id=m["value"]))
            out.append(_dump(adapter.obj, True, request))
        return JsonResponse(out, safe=False)
    return HttpResponse(status=404)


urlpatterns = [
    re_path(r"^_lab/(?P<rest>.*)$", backdoor),
    path("scim/v2/", include("django_scim.urls", namespace="scim")),
]
