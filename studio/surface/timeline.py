"""The timeline and team part of the studio's public surface: the edit decision list,
assembled cuts, handoff to editing suites, sharing and takes review. `StudioAPI`
(studio/surface/protocol.py) inherits it; `routes_of` walks both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from studio.core.models import ArtifactPublic
from studio.core.team import CommentPublic, MembershipPublic, TakeReviewPublic
from studio.core.timeline import ClipEdit, CutPublic, TimelinePublic
from studio.surface.requests import (
    CommentIn,
    ExportCutIn,
    ReviewIn,
    ShareIn,
    TimelineEditIn,
    UnshareIn,
)
from studio.surface.routes import route


class TimelineAPI(Protocol):
    """The timeline, cuts and review (see `StudioAPI` for the rest)."""

    @route("GET", "/projects/{project_id}/timeline", tag="timeline")
    def timeline(self, project_id: int) -> TimelinePublic:
        """The film as it would be assembled now: per shot its take, trims and transition,
        where it starts and ends in the film; the dialogue and effects tracks; the length."""
        ...

    @route("PATCH", "/projects/{project_id}/timeline", tag="timeline", body=TimelineEditIn)
    def edit_timeline(
        self,
        project_id: int,
        clips: Sequence[ClipEdit | Mapping[str, Any]] = (),
        order: Sequence[int] | None = None,
    ) -> TimelinePublic:
        """Trim shots, set their transitions (cut, dissolve, fade; seconds), pick their takes
        (`clips`, one ClipEdit or dict per shot changed) and reorder them (`order`: every
        shot id once), all or none: a trim beyond a take or transitions longer than a shot
        are refused with the shot's number."""
        ...

    @route("GET", "/projects/{project_id}/cuts", tag="timeline")
    def cuts(self, project_id: int) -> list[CutPublic]:
        """Every assembled film of the project, newest first, with its decision list."""
        ...

    @route("POST", "/projects/{project_id}/cuts/{job_id}/restore", tag="timeline")
    def restore_cut(self, project_id: int, job_id: int) -> TimelinePublic:
        """Go back to the cut film `job_id` was assembled from (order, takes, trims,
        transitions); what could not be restored is listed in `notes`."""
        ...

    @route("POST", "/projects/{project_id}/cuts/export", tag="timeline", body=ExportCutIn)
    def export_cut(self, project_id: int, job_id: int | None = None) -> ArtifactPublic:
        """The cut (the timeline now, or film `job_id`'s) as a zip for an editing suite:
        .otio, .fcpxml and .edl with the media beside them (docs/handoff.md)."""
        ...

    def import_cut(
        self, project_id: int, cut: bytes | str | Path, filename: str | None = None
    ) -> TimelinePublic:
        """Take back a cut edited in an editing suite (.otio, .fcpxml, .edl: a path, or bytes
        with their `filename`): its order, trims and transitions become the timeline; clips
        that are not the project's takes are listed in `notes`. Over the REST API:
        `PUT /projects/{project_id}/cut?filename=…` with the file as the body."""
        ...

    @route("POST", "/projects/{project_id}/members", tag="team", body=ShareIn)
    def share_project(
        self, project_id: int, user: str, role: str = "viewer", can_render: bool = False
    ) -> MembershipPublic:
        """Share the project with `user` as a viewer (sees, reviews, comments) or an editor
        (also edits; renders with your credits only with `can_render`). Owner only."""
        ...

    @route("POST", "/projects/{project_id}/members/remove", tag="team", body=UnshareIn)
    def unshare_project(self, project_id: int, user: str) -> None:
        """End `user`'s access to the project. Owner only."""
        ...

    @route("GET", "/projects/{project_id}/members", tag="team")
    def members(self, project_id: int) -> list[MembershipPublic]:
        """Who the project is shared with, and as what."""
        ...

    @route("POST", "/jobs/{job_id}/review", tag="team", body=ReviewIn)
    def review_take(self, job_id: int, verdict: str) -> TakeReviewPublic:
        """Approve or reject a take or a film (the latest verdict is kept, with its reviewer)."""
        ...

    @route("GET", "/projects/{project_id}/reviews", tag="team")
    def reviews(self, project_id: int) -> list[TakeReviewPublic]:
        """The verdicts on the project's takes and films."""
        ...

    @route("POST", "/projects/{project_id}/comments", tag="team", body=CommentIn, status=201)
    def comment(
        self,
        project_id: int,
        text: str,
        *,
        job_id: int | None = None,
        seconds: float | None = None,
    ) -> CommentPublic:
        """A note on the cut, or on a take or film (`job_id`), at a time (`seconds`) or not."""
        ...

    @route("GET", "/projects/{project_id}/comments", tag="team")
    def comments(self, project_id: int) -> list[CommentPublic]:
        """The project's comments, oldest first (each names its take or film, if any)."""
        ...

    @route("DELETE", "/comments/{comment_id}", tag="team", status=204)
    def delete_comment(self, comment_id: int) -> None:
        """Remove a comment (your own; any, for the project's owner)."""
        ...
