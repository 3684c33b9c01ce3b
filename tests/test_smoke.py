from hybridsync.engine.cli import main


def test_cli_lists_every_interface_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for cmd in ("lab", "check-config", "sync", "plan", "provision", "explain", "status", "log",
                "approve-deletes", "snapshot", "replay"):
        assert cmd in out
