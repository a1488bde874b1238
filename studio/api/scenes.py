"""A project's scenes: the look each scene's shots share."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from studio.api.base import StudioBase
from studio.core import scenes
from studio.core.errors import NotFound
from studio.core.models import Project, Scene, ScenePublic
from studio.core.team import Access


class ScenesArea(StudioBase):
    def scenes(self, project_id: int) -> list[ScenePublic]:
        with self._session() as session:
            self._project(session, project_id, Access.view)
            shots = self._shots(session, project_id)
            return [self._scene_public(s, shots) for s in scenes.scenes(session, project_id)]

    def update_scene(self, scene_id: int, **changes: Any) -> ScenePublic:
        values = scenes.scene_fields(changes)
        with self._session(write=True) as session:
            scene = self._scene(session, scene_id)
            for key, value in values.items():
                setattr(scene, key, value)
            session.add(scene)
            session.flush()
            return self._scene_public(scene, self._shots(session, scene.project_id))

    def _scene(self, session: Session, scene_id: int) -> Scene:
        scene = session.get(Scene, scene_id) if isinstance(scene_id, int) else None
        project = session.get(Project, scene.project_id) if scene is not None else None
        if scene is None or project is None:
            raise NotFound(f"No scene #{scene_id}")
        try:
            self._check_access(session, project, Access.edit)
        except NotFound:
            raise NotFound(f"No scene #{scene_id}") from None
        return scene

    def _scene_public(self, scene: Scene, shots: Any) -> ScenePublic:
        found = ScenePublic.model_validate(scene)
        found.shot_ids = scenes.shots_of(shots, scene.heading)
        return found
