"""Small teams (studio/core/team.py): share a project, review its takes, comment on them."""

from __future__ import annotations

from sqlmodel import Session, col, select

from studio.api.renders import RendersArea
from studio.core.accounts import check_name
from studio.core.errors import InvalidInput, NotFound
from studio.core.models import JobKind, JobStatus, Project, RenderJob, User, utcnow
from studio.core.team import (
    Access,
    Comment,
    CommentPublic,
    Membership,
    MembershipPublic,
    ProjectRole,
    TakeReview,
    TakeReviewPublic,
    Verdict,
)
from studio.core.validation import text as plain

MAX_COMMENT = 2000


class TeamArea(RendersArea):
    # ---- sharing --------------------------------------------------------------------------
    def share_project(
        self, project_id: int, user: str, role: str = "viewer", can_render: bool = False
    ) -> MembershipPublic:
        """Let `user` see (`viewer`) or also change (`editor`) the project; an editor with
        `can_render` renders with the owner's credits. Sharing again changes the role."""
        user = _user_name(user)
        if role not in ProjectRole.__members__:
            raise InvalidInput("role must be 'viewer' or 'editor'", "role")
        if can_render and role != ProjectRole.editor:
            raise InvalidInput("Only editors can be allowed to render", "can_render")
        with self._session(write=True) as session:
            project = self._project(session, project_id, Access.own)
            if project.kind != "film":
                raise InvalidInput("A Lab cannot be shared", "project_id")
            account = session.get(User, user)
            if account is None or account.disabled:
                raise InvalidInput(f"No user named {user!r}", "user")
            if user == project.owner:
                raise InvalidInput(f"{user} owns this project already", "user")
            member = session.get(Membership, (project_id, user)) or Membership(
                project_id=project_id, user=user
            )
            member.role, member.can_render = role, bool(can_render)
            session.add(member)
            session.flush()
            return MembershipPublic.model_validate(member)

    def unshare_project(self, project_id: int, user: str) -> None:
        """End `user`'s access to the project (their comments stay)."""
        user = _user_name(user)
        with self._session(write=True) as session:
            self._project(session, project_id, Access.own)
            member = session.get(Membership, (project_id, user))
            if member is None:
                raise NotFound(f"{user} is not a member of project #{project_id}")
            session.delete(member)

    def members(self, project_id: int) -> list[MembershipPublic]:
        """Who the project is shared with, and as what."""
        with self._session() as session:
            self._project(session, project_id, Access.view)
            query = select(Membership).where(Membership.project_id == project_id)
            found = session.exec(query.order_by(col(Membership.user))).all()
            return [MembershipPublic.model_validate(m) for m in found]

    # ---- review ---------------------------------------------------------------------------
    def review_take(self, job_id: int, verdict: str) -> TakeReviewPublic:
        """Approve or reject a take (or a film): the team's latest verdict is kept, with its
        reviewer. Viewers may review; the owner and editors choose what the film uses."""
        if verdict not in Verdict.__members__:
            raise InvalidInput("verdict must be 'approved' or 'rejected'", "verdict")
        with self._session(write=True) as session:
            job = self._job(session, job_id, Access.review)
            self._project(session, job.project_id, Access.review)
            if job.kind not in (JobKind.clip.value, JobKind.film.value, JobKind.speech.value):
                raise InvalidInput(f"Job #{job_id} is not a take or a film", "job_id")
            if job.status != JobStatus.succeeded.value:
                raise InvalidInput(f"Job #{job_id} has not finished: nothing to review", "job_id")
            review = session.get(TakeReview, job_id) or TakeReview(
                job_id=job_id, project_id=job.project_id, verdict=verdict, reviewer=self.user
            )
            review.verdict, review.reviewer, review.reviewed_at = verdict, self.user, utcnow()
            session.add(review)
            session.flush()
            return TakeReviewPublic.model_validate(review)

    def reviews(self, project_id: int) -> list[TakeReviewPublic]:
        """The verdicts on the project's takes and films."""
        with self._session() as session:
            self._project(session, project_id, Access.view)
            query = select(TakeReview).where(TakeReview.project_id == project_id)
            found = session.exec(query.order_by(col(TakeReview.job_id))).all()
            return [TakeReviewPublic.model_validate(r) for r in found]

    def comment(
        self,
        project_id: int,
        text: str,
        *,
        job_id: int | None = None,
        seconds: float | None = None,
    ) -> CommentPublic:
        """Leave a note on the project's cut, or on one take or film (`job_id`), pinned to a
        time (`seconds` into the take or film) or not. Shown on the timeline and exported as
        markers."""
        words = plain(text, "Comment", MAX_COMMENT)
        if not words:
            raise InvalidInput("A comment needs some text", "text")
        if seconds is not None and not 0 <= seconds <= 24 * 3600:
            raise InvalidInput("seconds must be a time in the take or film (0 or more)", "seconds")
        with self._session(write=True) as session:
            self._project(session, project_id, Access.review)
            if job_id is not None:
                job = session.get(RenderJob, job_id) if isinstance(job_id, int) else None
                if job is None or job.project_id != project_id:
                    raise NotFound(f"No render job #{job_id} in project #{project_id}")
            comment = Comment(
                project_id=project_id,
                job_id=job_id,
                seconds=None if seconds is None else round(float(seconds), 3),
                text=words,
                author=self.user,
            )
            session.add(comment)
            session.flush()
            return CommentPublic.model_validate(comment)

    def comments(self, project_id: int) -> list[CommentPublic]:
        """The project's comments, oldest first."""
        with self._session() as session:
            self._project(session, project_id, Access.view)
            query = select(Comment).where(Comment.project_id == project_id)
            found = session.exec(query.order_by(col(Comment.id))).all()
            return [CommentPublic.model_validate(c) for c in found]

    def delete_comment(self, comment_id: int) -> None:
        """Remove a comment: its author's, or any for the project's owner."""
        with self._session(write=True) as session:
            comment = session.get(Comment, comment_id) if isinstance(comment_id, int) else None
            if comment is None:
                raise NotFound(f"No comment #{comment_id}")
            project = self._project_of_comment(session, comment)
            if comment.author != self.user:
                self._check_access(session, project, Access.own)
            session.delete(comment)

    def _project_of_comment(self, session: Session, comment: Comment) -> Project:
        try:
            return self._project(session, comment.project_id, Access.review)
        except NotFound:
            raise NotFound(f"No comment #{comment.id}") from None


def _user_name(user: object) -> str:
    """A name as accounts spell them, or the answer an unknown one gets."""
    try:
        return check_name(user)
    except InvalidInput:
        raise InvalidInput(f"No user named {user!r}", "user") from None
