"""The SDK client's timeline and team methods: the routed ones derived from StudioAPI, plus
the upload of an edited cut."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from studio.client.derived import over_rest
from studio.client.queue import RemoteQueue
from studio.client.transport import path_id
from studio.core.errors import InvalidInput
from studio.core.timeline import TimelinePublic
from studio.surface.protocol import StudioAPI


class RemoteTimeline(RemoteQueue):
    timeline = over_rest(StudioAPI.timeline)
    edit_timeline = over_rest(StudioAPI.edit_timeline)
    cuts = over_rest(StudioAPI.cuts)
    restore_cut = over_rest(StudioAPI.restore_cut)
    export_cut = over_rest(StudioAPI.export_cut)
    share_project = over_rest(StudioAPI.share_project)
    unshare_project = over_rest(StudioAPI.unshare_project)
    members = over_rest(StudioAPI.members)
    review_take = over_rest(StudioAPI.review_take)
    reviews = over_rest(StudioAPI.reviews)
    comment = over_rest(StudioAPI.comment)
    comments = over_rest(StudioAPI.comments)
    delete_comment = over_rest(StudioAPI.delete_comment)

    def import_cut(
        self, project_id: int, cut: bytes | str | Path, filename: str | None = None
    ) -> TimelinePublic:
        """Upload an edited cut (PUT /projects/{id}/cut?filename=…)."""
        if isinstance(cut, bytes):
            data = cut
        else:
            path = Path(cut).expanduser()
            data, filename = path.read_bytes(), filename or path.name
        if not filename:
            raise InvalidInput("Say which format the cut is in: its file name", "filename")
        target = f"/projects/{path_id(project_id)}/cut?filename={quote(filename)}"
        answer = self._put_bytes(target, data, "application/octet-stream")
        return TimelinePublic.model_validate(answer)
