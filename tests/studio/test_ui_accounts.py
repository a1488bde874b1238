"""The UI acts as the user of each request: handlers called as alice, bob and an admin.

Handlers are the functions Gradio registered (found by module and name in `blocks.fns`) and
are called the way Gradio calls them, with a `gr.Request` carrying the logged-in user.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gradio.helpers import special_args
from PIL import Image

from studio import Studio
from studio.ui import build_ui

SCRIPT = """INT. KITCHEN - NIGHT

Anna stands by the window. Close-up on her hands around a cup.

EXT. STREET - NIGHT

Wide shot of the empty street.
"""
PASSWORD = "correct-horse-1"


class UI:
    """The built blocks, their handlers by "module.name", and requests per user."""

    def __init__(self, blocks: gr.Blocks):
        self.blocks = blocks
        self.handlers: dict[str, list[Callable[..., Any]]] = defaultdict(list)
        for block_fn in blocks.fns.values():
            fn = block_fn.fn
            if fn is not None:
                name = f"{fn.__module__.removeprefix('studio.ui').lstrip('.')}.{fn.__name__}"
                self.handlers[name.lstrip(".")].append(fn)

    def __call__(self, name: str) -> Callable[..., Any]:
        (fn, *_rest) = self.handlers[name]
        return fn


def as_(user: str | None) -> gr.Request:
    return gr.Request(username=user)


def output(ui: UI, name: str, result: list[Any], elem_id: str) -> Any:
    """The value a handler returned for the component with this elem_id."""
    fn = ui(name)
    block_fn = next(f for f in ui.blocks.fns.values() if f.fn is fn)
    return result[[getattr(block, "elem_id", None) for block in block_fn.outputs].index(elem_id)]


def choices(update: Any) -> list[Any]:
    return [value for _label, value in update.choices]


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    with Studio.local(tmp_path / "data", start_worker=False, auth=True, credits=True) as s:
        s.create_user("root", PASSWORD, role="admin")
        for name in ("alice", "bob"):
            s.create_user(name, PASSWORD)
        s.grant_credits("alice", 50, "test")
        yield s


@pytest.fixture
def ui(studio: Studio) -> UI:
    return UI(build_ui(studio))


@pytest.mark.filterwarnings("ignore:Unexpected argument")  # gr.SelectData, absent here
def test_every_handler_gets_the_request_injected(ui: UI) -> None:
    """Gradio injects gr.Request only into a positional parameter annotated with it, and only
    if the (string, under `from __future__ import annotations`) annotations resolve."""
    assert len(ui.blocks.fns) > 40
    for block_fn in ui.blocks.fns.values():
        request = as_("alice")
        inputs: list[Any] = [None] * len(block_fn.inputs)
        special_args(block_fn.fn, inputs, request=request)  # type: ignore[arg-type]
        assert any(value is request for value in inputs), block_fn.fn


def create(ui: UI, user: str, name: str) -> int:
    outputs = ui("create_project")(name, as_(user))
    return int(outputs[0].value)


def test_a_user_sees_and_reaches_only_their_own_projects(ui: UI, studio: Studio) -> None:
    alice_pid = create(ui, "alice", "Rain")
    status, *_ = ui("script_tab.on_breakdown")(alice_pid, SCRIPT, as_("alice"))
    assert "shots" in status
    bob_pid = create(ui, "bob", "Snow")

    def tick(project_id: int, request: gr.Request) -> str:
        table, _estimate, _succeeded = ui("queue_tab.tick")(project_id, None, None, request)
        return str(table)

    load = ui("load")
    alice_page = load(None, as_("alice"))
    assert choices(alice_page[0]) == [alice_pid]
    assert alice_page[0].value == alice_pid
    bob_page = load(alice_pid, as_("bob"))  # a stale or forged selection falls back
    assert choices(bob_page[0]) == [bob_pid]
    assert bob_page[0].value == bob_pid
    # An admin sees everyone's projects, marked with their owner.
    root_labels = [label for label, _ in load(None, as_("root"))[0].choices]
    assert f"#{alice_pid} Rain (alice)" in root_labels and f"#{bob_pid} Snow (bob)" in root_labels

    # Every way bob could name alice's project answers "not found".
    bob = as_("bob")
    attempts: list[tuple[str, tuple[Any, ...]]] = [
        ("choose_project", (alice_pid, bob)),
        ("script_tab.on_breakdown", (alice_pid, "INT. HALL - DAY\n\nA door.", bob)),
        (
            "script_tab.on_save_style",
            (bob, alice_pid, "", "", "16:9", 360, 24, "draft", "draft", False, False, False),
        ),
        ("queue_tab.on_render_all", (alice_pid, bob)),
        ("film_tab.on_assemble", (alice_pid, "", 0.0, None, True, True, False, False, -16, bob)),
        ("voices_tab.on_speak", (alice_pid, bob)),
        ("voices_tab.on_preview", (alice_pid, "narrator", "espeak", "", 1, 0, "Hi.", bob)),
        ("voices_tab.on_save", (alice_pid, "narrator", "espeak", "en-gb", 1, 0, bob)),
        ("voices_tab.on_speaker", (alice_pid, "narrator", bob)),
        ("refresh_others", (alice_pid, bob)),
    ]
    for name, args in attempts:
        with pytest.raises(gr.Error, match=f"No project #{alice_pid}"):
            ui(name)(*args)
    estimate = ui("queue_tab.on_shots")(alice_pid, None, bob)
    assert estimate == f"Estimated cost: — No project #{alice_pid}"
    shot = studio.as_user("alice").shots(alice_pid)[0]
    shot_id = shot.id
    # Bob's shot editor, asked for alice's shot within his project, shows none of it.
    assert shot.prompt not in ui("script_tab.on_select")(bob_pid, shot_id, bob)
    with pytest.raises(gr.Error, match="No shot"):
        ui("queue_tab.on_take_shot")(shot_id, bob)
    # The queue polled with alice's project shows bob nothing of hers.
    assert "No renders yet" in tick(alice_pid, bob)
    assert studio.as_user("alice").shots(alice_pid)[0].prompt != "A door."

    # Alice's renders do not show in bob's queue.
    ui("queue_tab.on_render_all")(alice_pid, as_("alice"))
    assert "job-row" in tick(alice_pid, as_("alice"))
    assert "job-row" not in tick(bob_pid, bob)
    assert studio.as_user("bob").jobs() == []


def test_the_script_tab_duplicates_a_shot_after_itself(ui: UI, studio: Studio) -> None:
    pid = create(ui, "alice", "Rain")
    ui("script_tab.on_breakdown")(pid, SCRIPT, as_("alice"))
    before = studio.as_user("alice").shots(pid)
    status, _table, *_editor = ui("script_tab.on_duplicate")(pid, before[0].id, as_("alice"))
    after = studio.as_user("alice").shots(pid)
    assert status.startswith("Shot duplicated: the copy is shot 2")
    assert len(after) == len(before) + 1 and after[1].prompt == before[0].prompt
    assert [s.id for s in after[2:]] == [s.id for s in before[1:]]
    with pytest.raises(gr.Error, match="Choose a shot"):
        ui("script_tab.on_duplicate")(pid, None, as_("alice"))
    with pytest.raises(gr.Error, match="No shot"):
        ui("script_tab.on_duplicate")(pid, before[0].id, as_("bob"))


def test_the_cast_tab_edits_adds_merges_and_deletes(ui: UI, studio: Studio) -> None:
    pid = create(ui, "alice", "Rails")
    script = "EXT. RAILWAY - DAY\n\nMARA (40s, weathered coat) steps off.\n\nMARA\nHello?\n"
    ui("script_tab.on_breakdown")(pid, script, as_("alice"))
    alice = studio.as_user("alice")
    (mara,) = alice.cast(pid)
    status, rows, chosen, name, *_ = ui("cast_tab.on_save")(
        pid, mara.id, "Mara", "character", 7, "40s, red scarf", 0.5, 1.2, as_("alice")
    )
    assert status == "Saved Mara." and rows == [["Mara", "character", "40s, red scarf", "1, 2"]]
    assert chosen.value == mara.id and name == "Mara"  # the editor stays on her
    *_fields, looks, missing, picture, strength, _frames, lora, lora_strength = ui(
        "cast_tab.on_select"
    )(pid, mara.id, as_("alice"))
    assert looks == [] and missing.startswith("No preview yet: shot 1, 2")
    assert picture is None and strength == 0.5
    assert lora == "No LoRA." and lora_strength == 1.2
    assert alice.cast_member(mara.id).seed == 7
    status, rows, *_ = ui("cast_tab.on_add")(
        pid, "the stranger", "character", None, "", 0.6, 0.8, as_("alice")
    )
    assert status == "Added The Stranger to the cast." and len(rows) == 2
    stranger = next(m for m in alice.cast(pid) if m.name == "THE STRANGER")
    with pytest.raises(gr.Error, match="itself"):
        ui("cast_tab.on_merge")(pid, stranger.id, stranger.id, as_("alice"))
    status, rows, *_ = ui("cast_tab.on_merge")(pid, stranger.id, mara.id, as_("alice"))
    assert status == "Merged into Mara." and [r[0] for r in rows] == ["Mara"]
    with pytest.raises(gr.Error, match="No cast member"):
        ui("cast_tab.on_delete")(pid, mara.id, as_("bob"))
    status, rows, *_ = ui("cast_tab.on_delete")(pid, mara.id, as_("alice"))
    assert rows == [] and all(s.characters == [] for s in alice.shots(pid))


def test_the_cast_tab_gives_a_member_a_reference_picture(
    ui: UI, studio: Studio, tmp_path: Path
) -> None:
    pid = create(ui, "alice", "Rails")
    ui("script_tab.on_breakdown")(pid, "EXT. SEA - DAY\n\nMARA (40s) rows.\n", as_("alice"))
    alice = studio.as_user("alice")
    (mara,) = alice.cast(pid)
    upload = tmp_path / "upload.png"
    Image.new("RGB", (300, 200), (30, 90, 160)).save(upload)
    status, _rows, *editor = ui("cast_tab.on_upload")(pid, mara.id, str(upload), as_("alice"))
    assert status == "Mara has a reference picture now."
    picture, _strength, frames, _lora, _lora_strength, _scene, _look = editor[-7:]
    with Image.open(picture) as shown:
        assert shown.size == (300, 200)
    assert frames.choices == []  # no previews yet
    with pytest.raises(gr.Error, match="readable picture"):
        bad = tmp_path / "notes.png"
        bad.write_text("not a picture")
        ui("cast_tab.on_upload")(pid, mara.id, str(bad), as_("alice"))
    with pytest.raises(gr.Error, match="Choose a shot"):
        ui("cast_tab.on_use_frame")(pid, mara.id, None, as_("alice"))

    status, *_ = ui("cast_tab.on_sheet")(pid, mara.id, as_("alice"))
    assert status.startswith("Character sheet queued (job #")
    (sheet,) = [j for j in alice.jobs(pid) if j.shot_id is None]
    # This UI's studio starts no render thread: a second one on the same data renders.
    with Studio.local(studio.settings.data_dir, auth=True, credits=True) as renderer:
        (frame,) = renderer.as_user("alice").preview(pid, wait=True, progress=False)
        renderer.as_user("alice").wait([sheet], progress=False)
    # Reopening the tab refreshes what a reference can be taken from (the sheet is there).
    _gallery, _note, reopened = ui("cast_tab.on_looks")(pid, mara.id, as_("alice"))
    assert [value for _label, value in reopened.choices] == [frame.id, sheet.id]
    *_, frames, _lora, _lora_strength = ui("cast_tab.on_select")(pid, mara.id, as_("alice"))
    assert frames.choices == [
        ("Shot 1", frame.id),
        (f"Character sheet (job #{sheet.id})", sheet.id),
    ]
    status, *_ = ui("cast_tab.on_use_frame")(pid, mara.id, frame.id, as_("alice"))
    assert status == "Mara's reference is that frame now."
    assert (
        alice.artifact(alice.cast_member(mara.id).reference_artifact_id or 0).provenance["source"]
        == f"job {frame.id}"
    )
    with pytest.raises(gr.Error, match="No cast member"):
        ui("cast_tab.on_clear")(pid, mara.id, as_("bob"))
    status, *_ = ui("cast_tab.on_clear")(pid, mara.id, as_("alice"))
    assert alice.cast_member(mara.id).reference_artifact_id is None


def test_the_cast_tab_gives_a_member_its_lora(ui: UI, studio: Studio, tmp_path: Path) -> None:
    from tests.studio.test_cast_references import fake_lora

    pid = create(ui, "alice", "Rails")
    ui("script_tab.on_breakdown")(pid, "EXT. SEA - DAY\n\nMARA (40s) rows.\n", as_("alice"))
    (mara,) = studio.as_user("alice").cast(pid)
    lora = fake_lora(tmp_path / "mara-v2.safetensors")
    status, _rows, *editor = ui("cast_tab.on_lora")(pid, mara.id, str(lora), as_("alice"))
    assert status == "Mara has its own LoRA now."
    state = editor[-4]
    assert state.startswith("LoRA: mara-v2.safetensors (93 bytes, sha256 ")
    with pytest.raises(gr.Error, match="no LoRA weights"):
        model = fake_lora(tmp_path / "model.safetensors", ("unet.conv.weight",))
        ui("cast_tab.on_lora")(pid, mara.id, str(model), as_("alice"))
    with pytest.raises(gr.Error, match="No cast member"):
        ui("cast_tab.on_clear_lora")(pid, mara.id, as_("bob"))
    status, _rows, *editor = ui("cast_tab.on_clear_lora")(pid, mara.id, as_("alice"))
    assert status == "Removed Mara's LoRA." and editor[-4] == "No LoRA."


def test_the_cast_tab_gives_a_scene_its_look(ui: UI, studio: Studio) -> None:
    pid = create(ui, "alice", "Rails")
    script = "EXT. PIER - DAY\n\nGulls.\n\nINT. CABIN - NIGHT\n\nA lamp.\n\nRain.\n"
    ui("script_tab.on_breakdown")(pid, script, as_("alice"))
    alice = studio.as_user("alice")
    pier, cabin = alice.scenes(pid)
    outputs = ui("cast_tab.on_scene")(pid, cabin.id, as_("alice"))
    assert outputs[0].value == cabin.id and outputs[1] == ""
    assert ("INT. CABIN - NIGHT (shots 2, 3)", cabin.id) in outputs[0].choices
    status, *_rest, scene_pick, look = ui("cast_tab.on_save_look")(
        pid, None, cabin.id, "warm lamplight, deep blue shadows", as_("alice")
    )
    assert status == "Saved the look of INT. CABIN - NIGHT: its 2 shots say it."
    assert scene_pick.value == cabin.id and look == "warm lamplight, deep blue shadows"
    assert alice.scenes(pid)[1].look == "warm lamplight, deep blue shadows"
    with pytest.raises(gr.Error, match="limit is 300"):
        ui("cast_tab.on_save_look")(pid, None, pier.id, "x" * 301, as_("alice"))
    with pytest.raises(gr.Error, match="No scene"):
        ui("cast_tab.on_save_look")(pid, None, pier.id, "mine", as_("bob"))
    with pytest.raises(gr.Error, match="Choose a scene"):
        ui("cast_tab.on_save_look")(pid, None, None, "mine", as_("alice"))


def test_no_login_no_studio(ui: UI) -> None:
    with pytest.raises(gr.Error, match="Log in"):
        ui("load")(None, as_(None))
    with pytest.raises(gr.Error, match="No active user"):
        ui("load")(None, as_("mallory"))


def test_balance_estimate_and_payment_errors(ui: UI, studio: Studio) -> None:
    page = ui("load")(None, as_("alice"))
    bar = output(ui, "load", page, "account-bar")
    assert "Signed in as <b>alice</b> · Balance: <b>50.00 credits</b> · " in bar
    assert "action='/logout'" in bar and "id='log-out'" in bar

    pid = create(ui, "bob", "Broke")
    ui("script_tab.on_breakdown")(pid, SCRIPT, as_("bob"))
    estimate = ui("queue_tab.on_shots")(pid, None, as_("bob"))
    cost = studio.as_user("bob").estimate(pid)
    assert cost > 0
    assert estimate.startswith(f"Estimated cost: **{cost:,.2f} credits** (all shots)")
    assert "more than your balance (0.00 credits)" in estimate
    first = studio.as_user("bob").shots(pid)[0].id
    assert "(selected)" in ui("queue_tab.on_shots")(pid, [first], as_("bob"))
    with pytest.raises(gr.Error, match="Not enough credits"):
        ui("queue_tab.on_render_all")(pid, as_("bob"))
    with pytest.raises(gr.Error, match="Choose one or more shots"):
        ui("queue_tab.on_render")(pid, [], as_("bob"))

    # With enough credits the render is accepted and the bar shows what it reserved.
    studio.grant_credits("bob", 50, "test")
    status, _table = ui("queue_tab.on_render_all")(pid, as_("bob"))
    assert status.startswith("Submitted")
    assert f"Balance: <b>{50 - cost:,.2f} credits</b>" in ui("on_balance")(as_("bob"))


def test_load_shows_the_admin_tab_to_admins_only(ui: UI) -> None:
    for user, admin in (("root", True), ("alice", False)):
        page = ui("load")(None, as_(user))
        assert page[-1].visible is admin  # the Admin tab itself
        rows = output(ui, "load", page, "admin-users")
        assert ([r[0] for r in rows] == ["alice", "bob", "local", "root"]) if admin else rows == []
        assert "Signed in as" in output(ui, "load", page, "account-bar")


def test_admin_handlers_refuse_non_admins(ui: UI, studio: Studio) -> None:
    bob = as_("bob")
    attempts: list[tuple[str, tuple[Any, ...]]] = [
        ("admin_tab.on_reload", (None, bob)),
        ("admin_tab.on_create", ("eve", PASSWORD, "admin", bob)),
        ("admin_tab.on_disable", ("alice", bob)),
        ("admin_tab.on_enable", ("alice", bob)),
        ("admin_tab.on_set_role", ("bob", "admin", bob)),
        ("admin_tab.on_reset", ("alice", "new-password-99", bob)),
        ("admin_tab.on_grant", ("bob", 1000, "free money", bob)),
    ]
    for name, args in attempts:
        with pytest.raises(gr.Error, match="Only admins"):
            ui(name)(*args)
    assert studio.balance("bob") == 0
    assert [u.name for u in studio.users()] == ["alice", "bob", "local", "root"]
    assert not studio.as_user("bob").is_admin

    # The same handlers work for an admin.
    root = as_("root")
    status, rows, _user, *_ = ui("admin_tab.on_create")("carol", PASSWORD, "creator", root)
    assert "carol" in status and "carol" in [r[0] for r in rows]
    status, rows, *_ = ui("admin_tab.on_grant")("carol", 12.5, "welcome", root)
    assert "Granted 12.50 credits to **carol**" in status
    assert studio.balance("carol") == 12.5
    status, *_ = ui("admin_tab.on_disable")("carol", root)
    assert "disabled" in status
    with pytest.raises(gr.Error, match="No active user"):
        ui("load")(None, as_("carol"))


def test_account_tab_tokens_and_password(ui: UI, studio: Studio) -> None:
    alice = as_("alice")
    shown, rows, name, note = ui("account_tab.on_create_token")("notebook", alice)
    assert shown.visible and shown.value.startswith(rows[0][2].rstrip("…"))
    assert rows[0][1] == "notebook" and name == "" and "not shown again" in note
    assert ui("account_tab.on_create_token")("other", as_("bob"))[1][0][1] == "other"
    with pytest.raises(gr.Error, match="No active token"):  # bob cannot revoke alice's
        ui("account_tab.on_revoke")(rows[0][0], as_("bob"))
    rows, note = ui("account_tab.on_revoke")(rows[0][0], alice)
    assert rows == [] and "revoked" in note

    balance, ledger = ui("account_tab.on_reload")(alice)
    assert "50.00 credits" in balance
    assert ledger[0][1:4] == ["grant", "+50.00", "50.00"] and "test" in ledger[0][5]

    with pytest.raises(gr.Error, match="differ"):
        ui("account_tab.on_password")("new-password-1", "new-password-2", alice)
    *_, note = ui("account_tab.on_password")("new-password-1", "new-password-1", alice)
    assert "log in again" in note
    assert studio.authenticate("alice", "new-password-1").name == "alice"


def test_local_studio_without_accounts(tmp_path: Path) -> None:
    """Auth and credits off (dev default): one local user, no login, no account tabs."""
    with Studio.local(tmp_path / "data", start_worker=False) as studio:
        ui = UI(build_ui(studio))
        assert "account_tab.on_create_token" not in ui.handlers
        assert "admin_tab.on_grant" not in ui.handlers
        pid = create(ui, None, "Local")  # type: ignore[arg-type]
        page = ui("load")(None, as_(None))
        assert choices(page[0]) == [pid]
        assert output(ui, "load", page, "account-bar") == ""  # nothing extra to say


def test_the_film_title_starts_as_the_scripts_and_takes_say_seed_and_time(
    ui: UI, studio: Studio
) -> None:
    pid = create(ui, "alice", "Rails")
    script = "THE LAST TRAIN\nWritten by Ana Ruiz\n\nINT. STATION - NIGHT\n\nMara waits.\n"
    ui("script_tab.on_breakdown")(pid, script, as_("alice"))
    refreshed = ui("refresh_others")(pid, as_("alice"))
    assert output(ui, "refresh_others", refreshed, "film-title") == "THE LAST TRAIN"
    alice = studio.as_user("alice")
    (shot,) = alice.shots(pid)
    with Studio.local(studio.settings.data_dir, auth=True, credits=True) as renderer:
        (take,) = renderer.as_user("alice").render(pid, wait=True, progress=False)
    from studio.ui.queue_tab import take_choices

    (label,), chosen = take_choices(alice, shot.id)
    assert chosen == take.id and label[0].startswith(f"Take #{take.id} · seed {shot.seed} · ")
    assert label[0].endswith("(chosen)")


def test_a_fractional_frame_rate_is_refused_not_rounded(ui: UI) -> None:
    pid = create(ui, "alice", "Rails")
    fps = next(b for b in ui.blocks.blocks.values() if getattr(b, "elem_id", None) == "fps")
    assert isinstance(fps, gr.Number)
    sent = fps.preprocess(23.976)  # what the handler gets from the page
    assert sent == 23.976  # was rounded to 24 and saved without a word
    settings = ("", "", "16:9", 360, sent, "draft", "draft", False, False, False)
    with pytest.raises(gr.Error, match="whole number"):
        ui("script_tab.on_save_style")(as_("alice"), pid, *settings)
    whole = ("", "", "16:9", 360, fps.preprocess(25), "draft", "draft", False, False, False)
    assert ui("script_tab.on_save_style")(as_("alice"), pid, *whole) == "Project settings saved."


def test_the_films_download_name_survives_a_reload(ui: UI, studio: Studio) -> None:
    pid = create(ui, "alice", "Rails")
    ui("script_tab.on_breakdown")(pid, SCRIPT, as_("alice"))
    with Studio.local(studio.settings.data_dir, auth=True, credits=True) as renderer:
        alice = renderer.as_user("alice")
        for shot in alice.shots(pid):
            alice.update_shot(shot.id, duration=1.0)
        alice.render(pid, wait=True, progress=False)
        film = alice.assemble(pid, title="", wait=True, progress=False)
    assert film.artifact_id is not None
    assembled = studio.as_user("alice").export(film.artifact_id, "Rails")  # what Assemble shows
    refreshed = ui("refresh_others")(pid, as_("alice"))
    film_file, *subtitles = output(ui, "refresh_others", refreshed, "film-download")
    assert Path(film_file).name == assembled.name and assembled.name.startswith("Rails-")
    assert subtitles == []  # the script has no dialogue: no subtitle files
