"""Small teams: projects shared with other users, verdicts on takes, timecoded comments.

A project has one owner, who pays for its renders and alone shares, deletes or renames it.
A **member** is a viewer or an editor of someone's project:

- a *viewer* sees the project (shots, takes, films, files), reviews takes (approve / reject)
  and comments; nothing they do costs credits or changes the film;
- an *editor* also edits (script, shots, cast, voices, timeline) and, only where the owner
  allowed it (`can_render`), renders, with the owner's credits.

`Access` names what a call needs; `granted` says whether a role gives it. Everyone else gets
the answer a missing id gets (404), so a project's existence is not revealed to strangers.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from sqlalchemy import Column, Text, delete
from sqlmodel import Field, Session, SQLModel

from studio.core.models import utcnow


class Access(IntEnum):
    """What a call on a project needs, weakest first."""

    view = 1  # read anything in it
    review = 2  # approve / reject takes, comment
    edit = 3  # change the script, shots, cast, voices, timeline
    render = 4  # spend the owner's credits on renders
    own = 5  # share, rename, delete; the owner and admins only


class ProjectRole(StrEnum):
    viewer = "viewer"
    editor = "editor"


class Verdict(StrEnum):
    approved = "approved"
    rejected = "rejected"


def granted(role: str, can_render: bool, need: Access) -> bool:
    """Whether a member with `role` (and the owner's leave to render) may do what `need` names."""
    if role == ProjectRole.editor:
        return need <= Access.edit or (need == Access.render and can_render)
    return role == ProjectRole.viewer and need <= Access.review


class MembershipBase(SQLModel):
    project_id: int = Field(foreign_key="project.id", primary_key=True)
    user: str = Field(foreign_key="user.name", primary_key=True, max_length=64, index=True)
    role: str = Field(default=ProjectRole.viewer.value, max_length=16)
    can_render: bool = Field(
        default=False,
        description="An editor may render, with the owner's credits (the owner's choice)",
    )
    created_at: datetime = Field(default_factory=utcnow)


class Membership(MembershipBase, table=True):
    """Someone else's access to a project."""


class MembershipPublic(MembershipBase):
    """A membership as the owner and members see it (what `members()` lists)."""


class TakeReviewBase(SQLModel):
    job_id: int = Field(foreign_key="renderjob.id", primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    verdict: str = Field(max_length=16)
    reviewer: str = Field(max_length=64)
    reviewed_at: datetime = Field(default_factory=utcnow)


class TakeReview(TakeReviewBase, table=True):
    """The team's latest verdict on a take (or a film): approved or rejected, and by whom."""


class TakeReviewPublic(TakeReviewBase):
    """A verdict as everyone in the project sees it (what `reviews()` lists)."""


class CommentBase(SQLModel):
    project_id: int = Field(foreign_key="project.id", index=True)
    job_id: int | None = Field(
        default=None,
        foreign_key="renderjob.id",
        description="The take or film it is about; none: the project's cut",
    )
    seconds: float | None = Field(
        default=None, description="Where: seconds into the take, or into the film"
    )
    text: str = Field(sa_column=Column(Text, nullable=False))
    author: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Comment(CommentBase, table=True):
    id: int | None = Field(default=None, primary_key=True)


class CommentPublic(CommentBase):
    id: int


def forget_project(session: Session, project_id: int) -> None:
    """Delete a project's shares, verdicts and comments (before the project and its jobs)."""
    for table in (Comment, TakeReview, Membership):
        session.execute(delete(table).where(table.project_id == project_id))  # type: ignore[arg-type]
