"""The SDK client's queue: positions, and holding or releasing one's queued jobs."""

from __future__ import annotations

from studio.client.files import RemoteFiles


class RemoteQueue(RemoteFiles):
    def queue_positions(self, job_ids: list[int] | None = None) -> dict[int, int]:
        """Position in the queue (1 = next) of every queued job this user can see, or only of
        those of `job_ids` that are queued."""
        if job_ids is not None and not job_ids:
            return {}
        items = self._get("/queue", job_ids=None if job_ids is None else list(job_ids))["items"]
        return {e["job_id"]: e["position"] for e in items}

    def pause_queue(self, owner: str | None = None) -> None:
        """Hold this user's queued jobs (running ones finish)."""
        self._own(owner, "queue")
        self.request("POST", "/queue/pause")

    def resume_queue(self, owner: str | None = None) -> None:
        self._own(owner, "queue")
        self.request("POST", "/queue/resume")

    def queue_paused(self, owner: str | None = None) -> bool:
        self._own(owner, "queue")
        return bool(self._get("/queue/paused")["paused"])
