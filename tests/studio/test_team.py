"""Small teams: a project shared with a viewer and an editor, its takes reviewed and commented
on; the owner stays in charge of credits (tests/studio/test_authorization.py walks every call
for each role)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from studio import Studio
from studio.core.errors import Forbidden, InvalidInput, NotFound
from studio.core.models import JobStatus

PASSWORD = "correct-horse-9"


@pytest.fixture
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    with Studio.local(tmp_path_factory.mktemp("team"), auth=True, credits=True) as local:
        for name in ("alice", "bob", "carol", "mallory"):
            local.create_user(name, PASSWORD)
            local.grant_credits(name, 100, "test")
        yield local


def _film(studio: Studio) -> tuple[int, list[int]]:
    alice = studio.as_user("alice")
    project = alice.create_project("Shared", height=72, fps=12)
    shots = [alice.add_shot(project.id, p, duration=1.0) for p in ("A pier", "A gull")]
    alice.render(project.id, wait=True, progress=False)
    return project.id, [s.id for s in shots]


def test_a_shared_project_appears_in_its_members_lists_and_not_others(studio: Studio) -> None:
    project, _shots = _film(studio)
    alice = studio.as_user("alice")
    alice.share_project(project, "bob", "viewer")
    alice.share_project(project, "carol", "editor")
    assert [p.id for p in studio.as_user("bob").projects()] == [project]
    assert [p.id for p in studio.as_user("carol").projects()] == [project]
    assert studio.as_user("mallory").projects() == []
    assert [(m.user, m.role, m.can_render) for m in alice.members(project)] == [
        ("bob", "viewer", False),
        ("carol", "editor", False),
    ]
    alice.share_project(project, "bob", "editor")  # sharing again changes the role
    assert {m.user: m.role for m in alice.members(project)}["bob"] == "editor"
    alice.unshare_project(project, "bob")
    assert studio.as_user("bob").projects() == []
    with pytest.raises(NotFound):
        studio.as_user("bob").project(project)


def test_an_editor_renders_with_the_owners_credits_only_when_allowed(studio: Studio) -> None:
    project, shots = _film(studio)
    alice, carol = studio.as_user("alice"), studio.as_user("carol")
    alice.share_project(project, "carol", "editor")
    carol.update_shot(shots[0], prompt="A pier at dawn")  # editing is fine
    with pytest.raises(Forbidden, match="allowed to render"):
        carol.render(project, [shots[0]])
    alice.share_project(project, "carol", "editor", can_render=True)
    owner_before, carol_before = alice.balance(), carol.balance()
    (take,) = carol.render(project, [shots[0]], wait=True, progress=False)
    assert take.status == JobStatus.succeeded.value, take.error
    assert take.owner == "alice"  # the owner's queue and credits
    assert alice.balance() == pytest.approx(owner_before - take.cost)
    assert carol.balance() == carol_before
    with pytest.raises(Forbidden, match="owner"):
        carol.share_project(project, "mallory", "viewer")
    with pytest.raises(Forbidden, match="owner"):
        carol.delete_project(project)


def test_viewers_review_and_comment_but_do_not_change_the_film(studio: Studio) -> None:
    project, shots = _film(studio)
    alice, bob = studio.as_user("alice"), studio.as_user("bob")
    alice.share_project(project, "bob", "viewer")
    (take,) = bob.takes(shots[0])
    verdict = bob.review_take(take.id, "approved")
    assert (verdict.verdict, verdict.reviewer) == ("approved", "bob")
    assert alice.timeline(project).clips[0].verdict == "approved"
    alice.review_take(take.id, "rejected")  # the latest verdict is kept, with its reviewer
    assert [(r.job_id, r.verdict, r.reviewer) for r in bob.reviews(project)] == [
        (take.id, "rejected", "alice")
    ]
    note = bob.comment(project, "The gull flies out of frame here", job_id=take.id, seconds=0.5)
    assert (note.author, note.seconds, note.job_id) == ("bob", 0.5, take.id)
    assert [c.text for c in alice.comments(project)] == ["The gull flies out of frame here"]
    with pytest.raises(Forbidden):
        bob.update_shot(shots[0], prompt="mine now")
    with pytest.raises(Forbidden):
        bob.choose_take(shots[0], take.id)
    with pytest.raises(Forbidden):
        bob.assemble(project)
    # The take's file can be downloaded by the viewer; a stranger's answer is "not found".
    assert take.artifact_id is not None
    assert bob.artifact_path(take.artifact_id).is_file()
    with pytest.raises(NotFound):
        studio.as_user("mallory").artifact(take.artifact_id)
    # Comments: the author or the owner removes them, nobody else.
    other = alice.comment(project, "Whole cut: too long")
    with pytest.raises(Forbidden):
        bob.delete_comment(other.id)
    bob.delete_comment(note.id)
    alice.delete_comment(other.id)
    assert alice.comments(project) == []


def test_bad_shares_reviews_and_comments_are_refused_with_reasons(studio: Studio) -> None:
    project, shots = _film(studio)
    alice = studio.as_user("alice")
    with pytest.raises(InvalidInput, match="No user named 'nobody'"):
        alice.share_project(project, "nobody", "viewer")
    with pytest.raises(InvalidInput, match="viewer' or 'editor"):
        alice.share_project(project, "bob", "admin")
    with pytest.raises(InvalidInput, match="Only editors"):
        alice.share_project(project, "bob", "viewer", can_render=True)
    with pytest.raises(InvalidInput, match="owns this project"):
        alice.share_project(project, "alice", "editor")
    with pytest.raises(InvalidInput, match="Lab"):
        alice.share_project(alice.lab_project().id, "bob", "viewer")
    (take,) = alice.takes(shots[0])
    with pytest.raises(InvalidInput, match="approved' or 'rejected"):
        alice.review_take(take.id, "maybe")
    with pytest.raises(InvalidInput, match="some text"):
        alice.comment(project, "   ")
    with pytest.raises(InvalidInput, match="seconds"):
        alice.comment(project, "when?", seconds=-1)
    with pytest.raises(NotFound):
        alice.comment(project, "on nothing", job_id=10**6)
    assert alice.members(project) == [] and alice.comments(project) == []
    assert alice.reviews(project) == []


def test_deleting_a_shared_project_removes_its_shares_and_notes(studio: Studio) -> None:
    project, shots = _film(studio)
    alice = studio.as_user("alice")
    alice.share_project(project, "bob", "viewer")
    (take,) = alice.takes(shots[0])
    alice.review_take(take.id, "approved")
    studio.as_user("bob").comment(project, "lovely", job_id=take.id)
    alice.delete_project(project)
    assert studio.as_user("bob").projects() == []
    with pytest.raises(NotFound):
        studio.as_user("bob").comments(project)
