"""Text-to-video and image-to-video through diffusers pipelines (AnimateDiff, SVD, LTX, Wan…).

The model renders `num_frames` frames (catalogue defaults, or request.extra) at its render
size, once per clip. A shot needs `request.frame_count` frames (duration × project fps) at
request.width × request.height, so the model's clip is stretched evenly over the shot: the
first and last model frames are the shot's first and last frames, and in between each shot
frame blends the two nearest model frames (`interpolation: blend`, the default) or repeats the
nearest one (`interpolation: nearest`). A longer shot therefore plays the same motion slower;
ask for more model frames (`extra={"num_frames": …}`) to keep motion speed.

Image-to-video conditions on the image the caller passes (the shot's preview frame) by what
the pipeline class takes: `image=` (SVD, LTX image-to-video, Wan image-to-video) or `video=`
(AnimateDiff video-to-video, which then works as SDEdit: the still image repeated, noised to
`strength` and denoised with motion).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from pipelines.diffusers_base import Progress, ShouldCancel, fit, import_library, to_uint8
from pipelines.diffusers_image import DiffusersPipeline
from pipelines.diffusers_loras import lora_call, warn_ignored_loras
from pipelines.diffusers_settings import render_config
from pipelines.requests import Cancelled, RenderRequest

__all__ = ["DiffusersVideoPipeline", "retime"]

CANCEL_EVERY = 16  # frames between should_cancel() checks while frames are handed out


class DiffusersVideoPipeline(DiffusersPipeline):
    """Clips from a diffusers video model; `render_clip` has the draft pipeline's contract."""

    base_tasks = ("text-to-video", "image-to-video")

    def render_clip(
        self,
        request: RenderRequest,
        image: Image.Image | None = None,
        on_progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> Iterator[np.ndarray]:
        """Exactly `request.frame_count` H×W×3 uint8 frames at request.width × request.height.

        With `image` (and an entry that can do image-to-video) the clip animates it; without,
        it is rendered from the prompt. Progress counts denoising steps plus one for decoding.
        """
        config = render_config(self.entry, request)
        frames = self.render_model_frames(
            request, image, on_progress=on_progress, should_cancel=should_cancel
        )
        for index, frame in enumerate(retime(frames, request.frame_count, config.interpolation)):
            if should_cancel is not None and index % CANCEL_EVERY == 0 and should_cancel():
                raise Cancelled(f"clip cancelled at frame {index} of {request.frame_count}")
            picture = Image.fromarray(to_uint8(frame), "RGB")
            yield np.asarray(fit(picture, request.width, request.height))

    def render_frame(
        self, request: RenderRequest, on_progress: Progress | None = None
    ) -> Image.Image:
        """The first frame of a text-to-video render, at request.width × request.height."""
        if not self.entry.supports("text-to-video"):
            raise ValueError(
                f"pipeline {self.name!r} is image-to-video only: it needs an image to animate"
            )
        frames = self.render_model_frames(request, None, on_progress=on_progress)
        return fit(Image.fromarray(to_uint8(frames[0]), "RGB"), request.width, request.height)

    def render_model_frames(
        self,
        request: RenderRequest,
        image: Image.Image | None = None,
        *,
        on_progress: Progress | None = None,
        should_cancel: ShouldCancel | None = None,
    ) -> np.ndarray:
        """The model's own clip: (num_frames, H, W, 3) floats in [0, 1] at its render size."""
        torch = import_library("torch")
        task = self._task(image)
        config = render_config(self.entry, request)
        # Clips take no request LoRAs (the entry's `supports_loras` is false): say so once.
        warn_ignored_loras(self.entry, [lora_call(self.entry, request, self.uses_request_loras)])
        # Steps as planned; the pipeline reports the real count (strength shortens SDEdit).
        total = [config.steps + 1]

        def on_step(step: int, steps: int) -> None:
            total[0] = (steps or config.steps) + 1
            if on_progress is not None:
                on_progress(step, total[0])

        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": config.negative_prompt or None,
            "height": config.height,
            "width": config.width,
            "num_frames": config.num_frames,
            "num_inference_steps": config.steps,
            "guidance_scale": config.guidance,
            "max_guidance_scale": config.guidance,  # SVD ramps guidance up to this
            "fps": round(config.fps),  # SVD's motion conditioning
            "frame_rate": round(config.fps),  # LTX's
            "generator": torch.Generator("cpu").manual_seed(request.seed),
            "output_type": "np",
        }
        if task == "image-to-video":
            assert image is not None
            still = fit(image.convert("RGB"), config.width, config.height)
            kwargs["image"] = still
            kwargs["video"] = [still] * config.num_frames  # video-to-video pipelines (SDEdit)
            kwargs["strength"] = config.strength
        kwargs.update(config.call)
        output = self._run(
            task,
            kwargs,
            scheduler=config.scheduler,
            on_step=on_step,
            should_cancel=should_cancel,
        )
        frames = _frames(output)
        if on_progress is not None:
            on_progress(total[0], total[0])
        return frames

    def settings(self, request: RenderRequest) -> dict[str, Any]:
        config = render_config(self.entry, request)
        return {
            **super().settings(request),
            "num_frames": config.num_frames,
            "model_fps": config.fps,
            "strength": config.strength,
            "interpolation": config.interpolation,
            "frame_count": request.frame_count,
        }

    def _task(self, image: Image.Image | None) -> str:
        if image is not None and self.entry.supports("image-to-video"):
            return "image-to-video"
        if self.entry.supports("text-to-video"):
            return "text-to-video"
        raise ValueError(
            f"pipeline {self.name!r} is image-to-video only: render_clip needs the image to animate"
        )


def _frames(output: Any) -> np.ndarray:
    """The first video of a pipeline output as (F, H, W, 3) float32 in [0, 1]."""
    video = output.frames[0]
    if isinstance(video, list):  # PIL images
        return np.stack([np.asarray(f.convert("RGB"), np.float32) / 255 for f in video])
    if hasattr(video, "detach"):  # a torch tensor, (F, C, H, W) from output_type="pt"
        video = video.detach().float().cpu().numpy()
        if video.shape[1] in (1, 3) and video.shape[-1] not in (1, 3):
            video = video.transpose(0, 2, 3, 1)
    return np.asarray(video, np.float32)


def retime(frames: np.ndarray, count: int, mode: str = "blend") -> Iterator[np.ndarray]:
    """`count` frames spread evenly in time over `frames` (first and last line up).

    "blend" mixes the two model frames around each shot frame's time (smooth, slightly soft
    while moving); "nearest" repeats the closest model frame (crisp, steps visibly when the
    model clip is much shorter than the shot)."""
    available = len(frames)
    for index in range(count):
        position = index * (available - 1) / (count - 1) if count > 1 else 0.0
        if mode == "nearest" or available == 1:
            yield frames[min(available - 1, round(position))]
            continue
        low = min(available - 2, math.floor(position))
        weight = position - low
        yield frames[low] * (1 - weight) + frames[low + 1] * weight
