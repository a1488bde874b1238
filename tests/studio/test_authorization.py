"""Every `Studio` method, called by a second user on the first user's objects: nothing
readable, changeable or downloadable, and "not found" exactly like a missing id. And the same
methods called by members of the project (studio/core/team.py): a viewer reads and reviews,
an editor also edits, neither renders nor manages the project unless allowed; a refused
member gets 403 and changes nothing.

The tables below must name every public method: a new method fails this test until someone
decides how it is guarded."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from studio import Studio
from studio.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from studio.core.models import JobPublic, JobStatus
from studio.core.team import Access

PASSWORD = "correct-horse-9"
PICTURE = bytes.fromhex(  # a 1×1 PNG
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8ffff3f0005fe02fe0def46b80000000049454e44ae426082"
)


@dataclass
class Alice:
    project: int
    shot: int
    take: JobPublic
    preview: JobPublic
    film: JobPublic
    queued: JobPublic
    token: int
    member: int
    scene: int
    comment: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Studio, Alice]]:
    data = tmp_path_factory.mktemp("authz")
    with Studio.local(data, auth=True, credits=True) as studio:
        for name in ("alice", "bob", "carol", "dave"):
            studio.create_user(name, PASSWORD)
            studio.grant_credits(name, 500, "test")
        alice = studio.as_user("alice")
        project = alice.create_project("Alice's secret film")
        assert project.id is not None
        first = alice.add_shot(project.id, "A lighthouse at dusk", duration=1.0)
        second = alice.add_shot(project.id, "Waves on rocks", duration=1.0)
        (preview,) = alice.preview(project.id, [first.id], wait=True, progress=False)
        takes = alice.render(project.id, wait=True, progress=False)
        film = alice.assemble(project.id, wait=True, progress=False)
        assert film.status == JobStatus.succeeded.value, film.error
        alice.pause_queue()
        (queued,) = alice.preview(project.id, [second.id])
        token, _plain = alice.create_token("notebook")
        alice.save_preset("alice-look", "draft", {}, description="hers")
        member = alice.add_cast_member(project.id, "Mara", description="hers")
        alice.update_shot(first.id, scene="EXT. LIGHTHOUSE - DUSK")
        (scene,) = alice.scenes(project.id)
        note = alice.comment(project.id, "hers", job_id=takes[0].id, seconds=0.5)
        alice.share_project(project.id, "carol", "viewer")
        alice.share_project(project.id, "dave", "editor")  # not allowed to render
        assert first.id is not None and token.id is not None
        yield (
            studio,
            Alice(
                project.id,
                first.id,
                takes[0],
                preview,
                film,
                queued,
                token.id,
                member.id,
                scene.id,
                note.id,
            ),
        )


class Kw(dict[str, Any]):
    """Keyword arguments, as the last item of a call's arguments."""


def a(fn: Callable[[Alice], tuple[Any, ...]]) -> Callable[[Alice], tuple[Any, ...]]:
    return fn


# method → (arguments built from Alice's objects, the error a second user must get)
CALLS: dict[str, tuple[Callable[[Alice], tuple[Any, ...]], type[Exception]]] = {
    "project": (a(lambda x: (x.project,)), NotFound),
    "update_project": (a(lambda x: (x.project,)), NotFound),
    "delete_project": (a(lambda x: (x.project,)), NotFound),
    "breakdown": (a(lambda x: (x.project, "INT. ROOM - DAY\nBob looks.")), NotFound),
    "shots": (a(lambda x: (x.project,)), NotFound),
    "add_shot": (a(lambda x: (x.project, "an intruder's shot")), NotFound),
    "shot": (a(lambda x: (x.shot,)), NotFound),
    "update_shot": (a(lambda x: (x.shot,)), NotFound),
    "move_shot": (a(lambda x: (x.shot, 1)), NotFound),
    "delete_shot": (a(lambda x: (x.shot,)), NotFound),
    "duplicate_shot": (a(lambda x: (x.shot,)), NotFound),
    "cast": (a(lambda x: (x.project,)), NotFound),
    "cast_member": (a(lambda x: (x.member,)), NotFound),
    "add_cast_member": (a(lambda x: (x.project, "Intruder")), NotFound),
    "update_cast_member": (a(lambda x: (x.member, Kw(description="changed"))), NotFound),
    "delete_cast_member": (a(lambda x: (x.member,)), NotFound),
    "merge_cast_member": (a(lambda x: (x.member, x.member)), NotFound),
    "consistency": (a(lambda x: (x.project,)), NotFound),
    "set_cast_reference": (a(lambda x: (x.member, PICTURE)), NotFound),
    "pick_cast_reference": (a(lambda x: (x.member, x.preview.id)), NotFound),
    "clear_cast_reference": (a(lambda x: (x.member,)), NotFound),
    "render_character_sheet": (a(lambda x: (x.member,)), NotFound),
    "set_cast_lora": (a(lambda x: (x.member, b"not even looked at")), NotFound),
    "clear_cast_lora": (a(lambda x: (x.member,)), NotFound),
    "scenes": (a(lambda x: (x.project,)), NotFound),
    "update_scene": (a(lambda x: (x.scene, Kw(look="an intruder's"))), NotFound),
    "preview": (a(lambda x: (x.project,)), NotFound),
    "render": (a(lambda x: (x.project,)), NotFound),
    "estimate": (a(lambda x: (x.project,)), NotFound),
    "assemble": (a(lambda x: (x.project,)), NotFound),
    "expand_prompts": (a(lambda x: (x.project,)), NotFound),
    "takes": (a(lambda x: (x.shot,)), NotFound),
    "choose_take": (a(lambda x: (x.shot, x.take.id)), NotFound),
    "lines": (a(lambda x: (x.shot,)), NotFound),
    "set_shot_sound": (a(lambda x: (x.shot, b"RIFF....WAVE")), NotFound),
    "clear_shot_sound": (a(lambda x: (x.shot,)), NotFound),
    "speak": (a(lambda x: (x.project,)), NotFound),
    "preview_voice": (a(lambda x: (x.project, "an intruder's line")), NotFound),
    "job": (a(lambda x: (x.take.id,)), NotFound),
    "queue_position": (a(lambda x: (x.queued.id,)), NotFound),
    "cancel": (a(lambda x: (x.queued.id,)), NotFound),
    "retry": (a(lambda x: (x.take.id,)), NotFound),
    "set_priority": (a(lambda x: (x.queued.id, 99)), NotFound),
    "raise_priority": (a(lambda x: (x.queued.id,)), NotFound),
    "move_before": (a(lambda x: (x.queued.id, x.queued.id)), NotFound),
    "watch": (a(lambda x: (Kw(job_id=x.take.id),)), NotFound),
    "census": (a(lambda x: ()), Forbidden),
    "live_preview": (a(lambda x: (x.take.id,)), NotFound),
    "wait": (a(lambda x: ([x.take],)), NotFound),
    "preview_path": (a(lambda x: (_shot_of(x),)), NotFound),
    "artifact": (a(lambda x: (x.take.artifact_id,)), NotFound),
    "artifact_path": (a(lambda x: (x.film.artifact_id,)), NotFound),
    "stored_artifact": (a(lambda x: (x.take.artifact_id,)), NotFound),
    "export": (a(lambda x: (x.film.artifact_id, "stolen")), NotFound),
    "download_url": (a(lambda x: (x.film.artifact_id,)), NotFound),
    "signed_link": (a(lambda x: (x.film.artifact_id,)), NotFound),
    "revoke_token": (a(lambda x: (x.token,)), NotFound),
    "timeline": (a(lambda x: (x.project,)), NotFound),
    "edit_timeline": (a(lambda x: (x.project, [{"shot_id": x.shot, "trim_in": 0.1}])), NotFound),
    "cuts": (a(lambda x: (x.project,)), NotFound),
    "restore_cut": (a(lambda x: (x.project, x.film.id)), NotFound),
    "export_cut": (a(lambda x: (x.project,)), NotFound),
    "import_cut": (a(lambda x: (x.project, b"not even looked at", "cut.otio")), NotFound),
    "share_project": (a(lambda x: (x.project, "bob", "editor")), NotFound),
    "unshare_project": (a(lambda x: (x.project, "carol")), NotFound),
    "members": (a(lambda x: (x.project,)), NotFound),
    "review_take": (a(lambda x: (x.take.id, "rejected")), NotFound),
    "reviews": (a(lambda x: (x.project,)), NotFound),
    "comment": (a(lambda x: (x.project, "an intruder's note")), NotFound),
    "comments": (a(lambda x: (x.project,)), NotFound),
    "delete_comment": (a(lambda x: (x.comment,)), NotFound),
    # Another user's queue, Lab or account: refused outright (names are not secret).
    "pause_queue": (a(lambda x: ("alice",)), Forbidden),
    "resume_queue": (a(lambda x: ("alice",)), Forbidden),
    "queue_paused": (a(lambda x: ("alice",)), Forbidden),
    "lab_project": (a(lambda x: ("alice",)), Forbidden),
    "lab_jobs": (a(lambda x: ("alice",)), Forbidden),
    "lab_run": (a(lambda x: ("draft", "p", Kw(owner="alice"))), Forbidden),
    "lab_sweep": (a(lambda x: ("draft", "p", Kw(axes={"seed": [1, 2]}, owner="alice"))), Forbidden),
    "balance": (a(lambda x: ("alice",)), Forbidden),
    "ledger": (a(lambda x: ("alice",)), Forbidden),
    "reset_password": (a(lambda x: ("alice", "a-new-password-1")), Forbidden),
    "save_preset": (a(lambda x: ("alice-look", "draft", {"guidance_scale": 1.0})), Conflict),
    # Admin only.
    "users": (a(lambda x: ()), Forbidden),
    "usage": (a(lambda x: ()), Forbidden),
    "create_user": (a(lambda x: ("mallory", PASSWORD)), Forbidden),
    "disable_user": (a(lambda x: ("alice",)), Forbidden),
    "set_role": (a(lambda x: ("bob", "admin")), Forbidden),
    "grant_credits": (a(lambda x: ("bob", 1000, "free money")), Forbidden),
    "user_named": (a(lambda x: ("alice",)), Forbidden),
    "user_for_token": (a(lambda x: ("sfs_guessed",)), Forbidden),
}

# Methods with no other user's object to reach, each with the reason.
UNGUARDED = {
    "local": "a constructor: opens a studio acting as the local admin",
    "connect": "a constructor: a client of a server, which checks every request itself",
    "as_user": "switches the acting user: callers are the web layer and trusted code",
    "authenticate": "checks a password; throttled",
    "close": "a view's close() does nothing",
    "create_project": "creates the caller's own project",
    "create_token": "the caller's own token",
    "me": "the caller",
    "projects": "lists the caller's own (checked below)",
    "jobs": "lists the caller's own (checked below)",
    "queue_positions": "lists the caller's own (checked below)",
    "tokens": "lists the caller's own (checked below)",
    "readiness": "dependency health, no user data",
    "workers": "the render farm, no user data",
    "pipelines": "the catalogue's names, shared by everyone",
    "voices": "the catalogue's voices, shared by everyone",
    "artifact_by_link": "the link's signature is the authorization (test_web_auth checks it)",
}


V, R, E, D, OWN = Access.view, Access.review, Access.edit, Access.render, Access.own
# What each call on a project's objects needs (studio/core/team.py); the others in CALLS
# are about one's own queue, Lab, account or the studio's users.
ROLE_NEEDS: dict[str, Access] = {
    "project": V, "update_project": E, "delete_project": OWN, "breakdown": E, "shots": V,
    "add_shot": E, "shot": V, "update_shot": E, "move_shot": E, "delete_shot": E,
    "duplicate_shot": E, "cast": V, "cast_member": V, "add_cast_member": E,
    "update_cast_member": E, "delete_cast_member": E, "merge_cast_member": E,
    "consistency": V, "set_cast_reference": E, "pick_cast_reference": E,
    "clear_cast_reference": E, "render_character_sheet": D, "set_cast_lora": E,
    "clear_cast_lora": E, "scenes": V, "update_scene": E, "preview": D, "render": D,
    "estimate": V, "assemble": D, "expand_prompts": E, "takes": V, "choose_take": E,
    "lines": V, "set_shot_sound": E, "clear_shot_sound": E, "speak": D, "preview_voice": D,
    "job": V, "queue_position": V, "cancel": D, "retry": D, "set_priority": OWN,
    "raise_priority": OWN, "move_before": OWN, "watch": V, "live_preview": V, "wait": V,
    "preview_path": V, "artifact": V, "artifact_path": V, "stored_artifact": V, "export": V,
    "download_url": V, "signed_link": V, "timeline": V, "edit_timeline": E, "cuts": V,
    "restore_cut": E, "export_cut": V, "import_cut": E, "share_project": OWN,
    "unshare_project": OWN, "members": V, "review_take": R, "reviews": V, "comment": R,
    "comments": V, "delete_comment": OWN,
}  # fmt: skip
ROLES = {"carol": ("viewer", R), "dave": ("editor", E)}  # member → role, what it is granted


def test_every_project_call_says_what_it_needs() -> None:
    not_project = {m for m, (_build, error) in CALLS.items() if error is not NotFound}
    assert set(CALLS) - not_project - {"revoke_token"} == set(ROLE_NEEDS)


@pytest.mark.parametrize("member", sorted(ROLES))
@pytest.mark.parametrize("method", sorted(m for m, need in ROLE_NEEDS.items() if need > E))
def test_members_cannot_render_or_manage(
    world: tuple[Studio, Alice], method: str, member: str
) -> None:
    """Neither a viewer nor an editor the owner did not allow spends credits or manages the
    project: 403 (they know it exists), and nothing changes."""
    _refused(world, method, member)


@pytest.mark.parametrize("method", sorted(m for m, need in ROLE_NEEDS.items() if need == E))
def test_viewers_cannot_edit(world: tuple[Studio, Alice], method: str) -> None:
    _refused(world, method, "carol")


@pytest.mark.parametrize("member", sorted(ROLES))
@pytest.mark.parametrize("method", sorted(m for m, need in ROLE_NEEDS.items() if need <= R))
def test_members_see_and_review(world: tuple[Studio, Alice], method: str, member: str) -> None:
    """Reading and reviewing a shared project work for its viewers and editors."""
    studio, alice = world
    args = CALLS[method][0](alice)
    kwargs = args[-1] if args and isinstance(args[-1], Kw) else Kw()
    try:
        getattr(studio.as_user(member), method)(*args[: len(args) - (1 if kwargs else 0)], **kwargs)
    except (NotFound, Forbidden) as refused:
        pytest.fail(f"{member} ({ROLES[member][0]}) was refused {method}: {refused}")
    except (InvalidInput, Conflict):
        return  # about the arguments (a film job is no take, …), past the access check


def _refused(world: tuple[Studio, Alice], method: str, member: str) -> None:
    studio, alice = world
    args = CALLS[method][0](alice)
    kwargs = args[-1] if args and isinstance(args[-1], Kw) else Kw()
    before = snapshot(studio)
    with pytest.raises(Forbidden):
        getattr(studio.as_user(member), method)(*args[: len(args) - (1 if kwargs else 0)], **kwargs)
    assert snapshot(studio) == before


def _shot_of(x: Alice) -> Any:
    from studio.core.models import ShotPublic

    return ShotPublic(id=x.shot, project_id=x.project, preview_job_id=x.preview.id)


def test_every_public_method_is_classified() -> None:
    public = {
        name
        for name, member in inspect.getmembers(Studio)
        if not name.startswith("_") and callable(member)
    }
    assert public - set(CALLS) - set(UNGUARDED) == set()
    assert set(CALLS) & set(UNGUARDED) == set()


@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_second_user_reaches_nothing_of_the_first(
    world: tuple[Studio, Alice], method: str
) -> None:
    studio, alice = world
    build, error = CALLS[method]
    bob = studio.as_user("bob")
    before = snapshot(studio)
    args = build(alice)
    kwargs = args[-1] if args and isinstance(args[-1], Kw) else Kw()
    with pytest.raises(error) as raised:
        getattr(bob, method)(*args[: len(args) - (1 if kwargs else 0)], **kwargs)
    if error is NotFound:
        # The same words as for an id that does not exist: nothing about whose it is.
        assert "alice" not in str(raised.value).lower()
    assert snapshot(studio) == before


def snapshot(studio: Studio) -> Any:
    alice = studio.as_user("alice")
    projects = [(p.id, p.name, p.updated_at) for p in alice.projects()]
    shots = [(s.id, s.prompt, s.position, s.chosen_take_id) for s in alice.shots(projects[0][0])]
    jobs = [(j.id, j.status, j.priority, j.queued_at) for j in alice.jobs()]
    cast = alice.cast(projects[0][0])
    team = (alice.members(projects[0][0]), alice.comments(projects[0][0]))
    timeline = alice.timeline(projects[0][0])
    return (
        projects,
        shots,
        jobs,
        cast,
        alice.balance(),
        len(alice.tokens()),
        alice.queue_paused(),
        team,
        timeline,
    )


def test_missing_ids_get_the_same_answer_as_other_peoples(world: tuple[Studio, Alice]) -> None:
    studio, alice = world
    bob = studio.as_user("bob")
    for method, theirs, missing in (
        ("project", alice.project, 10**6),
        ("shot", alice.shot, 10**6),
        ("job", alice.take.id, 10**6),
        ("artifact", alice.take.artifact_id, 10**6),
    ):
        with pytest.raises(NotFound) as other:
            getattr(bob, method)(theirs)
        with pytest.raises(NotFound) as absent:
            getattr(bob, method)(missing)
        assert str(other.value).replace(str(theirs), "N") == str(absent.value).replace(
            str(missing), "N"
        )


def test_listings_show_only_ones_own(world: tuple[Studio, Alice], tmp_path: Path) -> None:
    studio, alice = world
    bob = studio.as_user("bob")
    assert bob.projects() == []
    assert bob.jobs() == []
    assert alice.queued.id not in bob.queue_positions()
    assert bob.lab_jobs() == []
    assert bob.tokens() == []
    assert [e.owner for e in bob.ledger()] == ["bob"]
    # Alice herself and an admin do see it.
    assert [p.id for p in studio.as_user("alice").projects()] == [alice.project]
    assert alice.project in [p.id for p in studio.projects()]
    assert alice.queued.id in studio.queue_positions()


def test_an_admin_reaches_everything(world: tuple[Studio, Alice]) -> None:
    studio, alice = world
    studio.create_user("root", PASSWORD, role="admin")
    admin = studio.as_user("root")
    assert admin.project(alice.project).name == "Alice's secret film"
    assert admin.artifact(alice.film.artifact_id).owner == "alice"  # type: ignore[arg-type]
    assert admin.balance("alice") == studio.balance("alice")


def test_disabled_users_cannot_act(world: tuple[Studio, Alice]) -> None:
    studio, _alice = world
    studio.create_user("eve", PASSWORD)
    studio.disable_user("eve")
    from studio.core.errors import Unauthorized

    with pytest.raises(Unauthorized):
        studio.as_user("eve")
    with pytest.raises(Unauthorized):
        studio.authenticate("eve", PASSWORD)
