"""`python -m studio users …` and `credits …`, run in-process through `studio.cli.main`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from studio.api import Studio
from studio.cli import main
from studio.core import accounts
from studio.core.errors import Unauthorized

PASSWORD = "correct-horse-9"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's configured data directory: $STUDIO_DATA_DIR, nothing else from the env."""
    for key in list(os.environ):
        if key.startswith("STUDIO_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return tmp_path


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def studio_at(data_dir: Path) -> Studio:
    return Studio.local(data_dir, start_worker=False)


def add_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, _, err = cli(
        monkeypatch, capsys, "users", "add", name, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, err


def test_add_user_then_log_in(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        monkeypatch, capsys, "users", "add", "Alice", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 0, err
    assert out.strip() == "created user alice (creator)"
    code, out, _ = cli(
        monkeypatch,
        capsys,
        "users",
        "add",
        "root",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD + "\r\n",
    )
    assert code == 0
    assert out.strip() == "created user root (admin)"
    with studio_at(data_dir) as studio:
        assert studio.authenticate("alice", PASSWORD).role == "creator"
        assert studio.authenticate("root", PASSWORD).is_admin

    code, out, _ = cli(monkeypatch, capsys, "users", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "DISABLED", "BALANCE"]
    assert ["alice", "creator", "no", "0.00"] in [line.split() for line in lines[1:]]


def test_weak_password_refused_and_no_user_created(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin="short\n"
    )
    assert code == 2
    assert out == ""
    assert "at least 10 characters" in one_error(err)
    code, _, err = cli(
        monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin="bob-bob-bob-bob\n"
    )
    assert code == 2
    assert "user name" in one_error(err)
    with studio_at(data_dir) as studio:
        assert "bob" not in [u.name for u in studio.users()]


def test_empty_or_missing_password_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(monkeypatch, capsys, "users", "add", "bob", "--password-stdin", stdin="\n")
    assert code == 2
    assert "no password on stdin" in one_error(err)
    # No flag and no terminal: no prompt that would hang, a clear error instead.
    code, _, err = cli(monkeypatch, capsys, "users", "add", "bob", stdin=PASSWORD + "\n")
    assert code == 2
    assert "--password-stdin" in one_error(err)
    with studio_at(data_dir) as studio:
        assert "bob" not in [u.name for u in studio.users()]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_prompts_twice(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([PASSWORD, "something-else-1"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    monkeypatch.setattr("sys.stdin", _Tty())
    assert main(["users", "add", "bob"]) == 2
    assert "do not match" in one_error(capsys.readouterr().err)

    answers = iter([PASSWORD, PASSWORD])
    assert main(["users", "add", "bob"]) == 0
    assert "created user bob (creator)" in capsys.readouterr().out
    with studio_at(data_dir) as studio:
        assert studio.authenticate("bob", PASSWORD).name == "bob"


def test_duplicate_user_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    code, _, err = cli(
        monkeypatch,
        capsys,
        "users",
        "add",
        "alice",
        "--password-stdin",
        stdin="another-pass-77\n",
    )
    assert code == 2
    assert "already exists" in one_error(err)
    with studio_at(data_dir) as studio:
        assert studio.authenticate("alice", PASSWORD).name == "alice"  # unchanged


def test_disable_then_login_fails_and_enable_again(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    code, out, _ = cli(monkeypatch, capsys, "users", "disable", "alice")
    assert code == 0
    assert out.startswith("disabled user alice")
    with studio_at(data_dir) as studio, pytest.raises(Unauthorized):
        studio.authenticate("alice", PASSWORD)
    code, out, _ = cli(monkeypatch, capsys, "users", "list")
    assert ["alice", "creator", "yes", "0.00"] in [line.split() for line in out.splitlines()]

    code, out, _ = cli(monkeypatch, capsys, "users", "enable", "alice")
    assert code == 0
    assert out.strip() == "enabled user alice"
    with studio_at(data_dir) as studio:
        assert studio.authenticate("alice", PASSWORD).name == "alice"


def test_passwd_sets_a_new_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    code, _, err = cli(
        monkeypatch, capsys, "users", "passwd", "alice", "--password-stdin", stdin="tiny\n"
    )
    assert code == 2
    assert "at least 10 characters" in one_error(err)
    code, out, err = cli(
        monkeypatch,
        capsys,
        "users",
        "passwd",
        "alice",
        "--password-stdin",
        stdin="another-pass-77\n",
    )
    assert code == 0, err
    assert out.startswith("password changed for alice")
    with studio_at(data_dir) as studio:
        assert studio.authenticate("alice", "another-pass-77").name == "alice"
        with pytest.raises(Unauthorized):
            studio.authenticate("alice", PASSWORD)


def test_grant_then_show(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    code, out, err = cli(
        monkeypatch, capsys, "credits", "grant", "alice", "25.5", "--reason", "welcome"
    )
    assert code == 0, err
    assert out.strip() == "granted 25.50 credits to alice; balance: 25.50 credits"
    code, out, err = cli(monkeypatch, capsys, "credits", "grant", "alice", "-5", "--reason", "oops")
    assert code == 0, err
    assert out.strip() == "took back 5.00 credits from alice; balance: 20.50 credits"

    code, out, err = cli(monkeypatch, capsys, "credits", "show", "alice")
    assert code == 0, err
    assert "balance: 20.50 credits" in out
    assert "held:    0.00 credits" in out
    assert "spent:   0.00 credits" in out
    rows = [line.split() for line in out.splitlines()]
    grants = [row for row in rows if "grant" in row]
    assert [row[4:6] for row in grants] == [["-5.00", "20.50"], ["+25.50", "25.50"]]
    assert grants[0][-2:] == ["local", "oops"]
    with studio_at(data_dir) as studio:
        assert studio.balance("alice") == 20.5


def test_take_back_more_than_the_balance_refused(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    assert cli(monkeypatch, capsys, "credits", "grant", "alice", "10", "--reason", "x")[0] == 0
    code, out, err = cli(
        monkeypatch, capsys, "credits", "grant", "alice", "-10.01", "--reason", "too much"
    )
    assert code == 2
    assert out == ""
    assert "cannot take back 10.01 credits: the balance is 10.00" in one_error(err).lower()
    with studio_at(data_dir) as studio:
        assert studio.balance("alice") == 10
        assert len(studio.ledger("alice")) == 1


@pytest.mark.parametrize("amount", ["lots", "inf", "nan"])
def test_grant_needs_a_finite_number(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    amount: str,
) -> None:
    add_user(monkeypatch, capsys, "alice")
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, also exit 2
        main(["credits", "grant", "alice", amount, "--reason", "x"])
    assert exc.value.code == 2
    assert "not a number of credits" in capsys.readouterr().err
    code, _, err = cli(monkeypatch, capsys, "credits", "grant", "alice", "0", "--reason", "x")
    assert code == 2
    assert "non-zero" in one_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ("credits", "grant", "nobody", "5", "--reason", "x"),
        ("credits", "show", "nobody"),
        ("users", "disable", "nobody"),
        ("users", "enable", "nobody"),
        ("users", "token", "nobody", "--name", "nb"),
        ("users", "passwd", "nobody", "--password-stdin"),
    ],
)
def test_unknown_user_is_a_clear_error(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:
    code, out, err = cli(monkeypatch, capsys, *argv, stdin=PASSWORD + "\n")
    assert code == 2
    assert out == ""
    assert "'nobody'" in one_error(err)


def test_token_printed_once_and_works(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(monkeypatch, capsys, "alice")
    code, out, err = cli(monkeypatch, capsys, "users", "token", "alice", "--name", "notebook")
    assert code == 0, err
    token = out.strip()
    assert token.startswith(accounts.TOKEN_PREFIX)
    assert out.count(token) == 1
    assert token not in err  # stdout holds only the token, for $(...) in scripts
    assert "shown only now" in err
    with studio_at(data_dir) as studio:
        with studio._session() as session:
            assert accounts.user_for_token(session, token).name == "alice"
        assert [t.name for t in studio.as_user("alice").tokens()] == ["notebook"]

    # Disabling the user revokes the token.
    assert cli(monkeypatch, capsys, "users", "disable", "alice")[0] == 0
    with (
        studio_at(data_dir) as studio,
        studio._session() as session,
        pytest.raises(Unauthorized),
    ):
        accounts.user_for_token(session, token)
    code, _, err = cli(monkeypatch, capsys, "users", "token", "alice", "--name", "again")
    assert code == 2
    assert "alice" in one_error(err)
