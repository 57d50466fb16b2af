"""Second opinion on camera-reported reads: our recognizer reads the camera's own pictures.

Agreement (same canonical plate) raises the confidence (``1 - (1 - c_cam)(1 - c_ours)``);
disagreement keeps both reads, takes the more confident one as the proposal and flags the result
for the guard's review. When only one side read a plate, that read stands, flagged for review when
below the review threshold (or when only we read a plate, since the camera said "no plate").
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import msgspec
import numpy as np

from agent.sources.camera_push import CameraRead
from agent.vision.recognizer import PlateRecognizer
from agent.vision.types import InvalidFrameError, PlateRead
from hj1321.plates import is_valid_plate


class Agreement(StrEnum):
    """How the camera's read and ours compare."""

    AGREE = "agree"
    DISAGREE = "disagree"
    CAMERA_ONLY = "camera_only"
    OURS_ONLY = "ours_only"
    NONE = "none"


class ConfirmedRead(msgspec.Struct, frozen=True):
    """A camera read checked by our recognizer; both original reads are kept."""

    plate: str
    colour: str
    confidence: float
    agreement: Agreement
    needs_review: bool
    camera: str
    camera_plate: str
    camera_colour: str
    camera_confidence: float
    ours: PlateRead | None = None


def _decode(jpeg: bytes | None) -> np.ndarray | None:
    if not jpeg:
        return None
    img = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if img is None or img.size == 0 else np.asarray(img, dtype=np.uint8)


def our_read(recognizer: PlateRecognizer, read: CameraRead) -> PlateRead | None:
    """Our best read of the camera's scene picture, else of its plate picture."""
    for picture in (read.scene_picture, read.plate_picture):
        img = _decode(picture)
        if img is None:
            continue
        try:
            reads = recognizer.recognize(img, source=read.camera)
        except InvalidFrameError:
            continue
        if reads:
            if read.plate:
                same = [r for r in reads if r.plate == read.plate]
                if same:
                    return same[0]
            return reads[0]
    return None


def second_opinion(recognizer: PlateRecognizer, read: CameraRead, review_threshold: float = 0.85) -> ConfirmedRead:
    """Combine the camera's read with ours (see the module docstring)."""
    ours = our_read(recognizer, read)
    cam_plate = read.plate if is_valid_plate(read.plate) else ""

    def result(plate: str, colour: str, confidence: float, agreement: Agreement, review: bool) -> ConfirmedRead:
        return ConfirmedRead(
            plate=plate,
            colour=colour,
            confidence=confidence,
            agreement=agreement,
            needs_review=review or confidence < review_threshold,
            camera=read.camera,
            camera_plate=read.plate,
            camera_colour=read.colour,
            camera_confidence=read.confidence,
            ours=ours,
        )

    if ours is not None and cam_plate and ours.plate == cam_plate:
        confidence = 1.0 - (1.0 - read.confidence) * (1.0 - ours.confidence)
        colour = ours.colour if read.colour == "other" else read.colour
        # A colour disagreement on an agreed plate goes to review with our colour (the camera's
        # scheme mapping is the likelier fault).
        if colour != ours.colour:
            return result(cam_plate, ours.colour, confidence, Agreement.AGREE, review=True)
        return result(cam_plate, colour, confidence, Agreement.AGREE, review=False)
    if ours is not None and cam_plate:
        take_ours = ours.confidence > read.confidence
        return result(
            ours.plate if take_ours else cam_plate,
            ours.colour if take_ours else read.colour,
            min(read.confidence, ours.confidence) * 0.5,
            Agreement.DISAGREE,
            review=True,
        )
    if cam_plate:
        return result(cam_plate, read.colour, read.confidence * 0.8, Agreement.CAMERA_ONLY, review=False)
    if ours is not None:
        return result(ours.plate, ours.colour, ours.confidence * 0.8, Agreement.OURS_ONLY, review=True)
    return result("", "other", 0.0, Agreement.NONE, review=True)
