"""A person's COCO-17 skeleton from a few pose parameters, with fixed limb lengths.

The simulator moves people by position, heading, gait phase, lean, crouch and
wrist targets; this module turns those into 17 world-frame joints. Legs and
arms are two-link chains solved in closed form, so thigh, shin, upper arm and
forearm keep their lengths in every frame, feet stay on the floor and a wrist
given a reachable target is exactly there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data.world import (L_ANKLE, L_EAR, L_ELBOW, L_EYE, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_EAR,
                        R_ELBOW, R_EYE, R_HIP, R_KNEE, R_SHOULDER, R_WRIST)

UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class Body:
    """Body proportions scaled from height (a 1.75 m adult as reference)."""
    height: float

    @property
    def s(self) -> float:
        return self.height / 1.75

    @property
    def ankle_z(self) -> float:
        return 0.08 * self.s

    @property
    def hip_z(self) -> float:
        return 0.93 * self.s

    @property
    def thigh(self) -> float:
        return 0.43 * self.s

    @property
    def shin(self) -> float:
        return 0.42 * self.s

    @property
    def torso(self) -> float:  # hip centre to neck (shoulder line)
        return 0.50 * self.s

    @property
    def upper_arm(self) -> float:
        return 0.30 * self.s

    @property
    def forearm(self) -> float:
        return 0.27 * self.s

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    @property
    def hip_half(self) -> float:
        return 0.10 * self.s

    @property
    def shoulder_half(self) -> float:
        return 0.19 * self.s


@dataclass
class PoseState:
    """What the choreography decides about a person at one instant."""
    pos: np.ndarray  # (2,) floor position of the body centre
    heading: float  # radians, direction the body faces
    gait_phase: float = 0.0  # radians; one cycle = two steps
    stride: float = 0.0  # 0 standing .. 1 full walking stride
    lean: float = 0.0  # forward torso pitch (radians)
    crouch: float = 0.0  # pelvis lowered by (m)
    wrist: dict[str, np.ndarray | None] = field(default_factory=dict)  # explicit wrist targets per hand
    carrying: frozenset[str] = frozenset()  # hands holding items (forearm raised when not reaching)
    gaze: float | None = None  # head yaw (radians), defaults to heading


def frame(heading: float) -> tuple[np.ndarray, np.ndarray]:
    """(forward, left) unit vectors for a heading."""
    c, s = np.cos(heading), np.sin(heading)
    return np.array([c, s, 0.0]), np.array([-s, c, 0.0])


def two_link(root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray) -> tuple[np.ndarray,
                                                                                                       np.ndarray]:
    """(middle joint, end joint) of a two-link chain from root toward target, bending toward pole."""
    d_vec = target - root
    d = float(np.linalg.norm(d_vec))
    u = d_vec / d if d > 1e-9 else -UP
    d_c = float(np.clip(d, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-5))
    end = root + u * d_c
    a = (l1 * l1 - l2 * l2 + d_c * d_c) / (2 * d_c)
    h = np.sqrt(max(l1 * l1 - a * a, 0.0))
    w = pole - np.dot(pole, u) * u
    nw = np.linalg.norm(w)
    if nw < 1e-9:
        w = np.cross(u, UP)
        nw = np.linalg.norm(w)
        if nw < 1e-9:
            w, nw = np.array([1.0, 0.0, 0.0]), 1.0
    mid = root + u * a + (w / nw) * h
    return mid, end


def torso_points(body: Body, pos: np.ndarray, heading: float, lean: float, crouch: float,
                 pelvis_drop: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hip centre, neck, torso direction) for a pose."""
    f, _ = frame(heading)
    hip_c = np.array([pos[0], pos[1], body.hip_z - crouch - pelvis_drop]) - f * 0.08 * np.sin(lean) * body.s
    t_dir = np.cos(lean) * UP + np.sin(lean) * f
    return hip_c, hip_c + t_dir * body.torso, t_dir


def shoulder(body: Body, pos: np.ndarray, heading: float, lean: float, crouch: float, hand: str) -> np.ndarray:
    _, left = frame(heading)
    _, neck, _ = torso_points(body, pos, heading, lean, crouch)
    return neck + left * body.shoulder_half * (1 if hand == "left" else -1)


def rest_wrist(body: Body, pos: np.ndarray, heading: float, hand: str, carrying: bool) -> np.ndarray:
    """Where a standing person's wrist is when not reaching."""
    f, left = frame(heading)
    side = left if hand == "left" else -left
    sh = shoulder(body, pos, heading, 0.0, 0.0, hand)
    if carrying:
        return sh - UP * body.upper_arm * 0.95 + f * body.forearm * 0.9 - side * 0.03 * body.s
    return sh - UP * body.arm * 0.97 + side * 0.05 * body.s


def skeleton(body: Body, st: PoseState) -> np.ndarray:
    """(17, 3) COCO-17 joints, world metres."""
    j = np.zeros((17, 3))
    f, left = frame(st.heading)
    s = body.s
    # feet: stance under the hips, swinging fore and aft while walking
    amp = 0.26 * s * st.stride
    off = {"left": amp * np.sin(st.gait_phase), "right": -amp * np.sin(st.gait_phase)}
    swing = {"left": max(0.0, np.cos(st.gait_phase)), "right": max(0.0, -np.cos(st.gait_phase))}
    ankles = {}
    for hand, sign in (("left", 1), ("right", -1)):
        p = np.array([st.pos[0], st.pos[1], body.ankle_z]) + left * sign * body.hip_half * 0.9 + f * off[hand]
        p[2] += 0.07 * s * st.stride * swing[hand]
        ankles[hand] = p
    # pelvis low enough that both legs reach their feet
    leg = (body.thigh + body.shin) * 0.995
    hip_c0, _, _ = torso_points(body, st.pos, st.heading, st.lean, st.crouch)
    drop = 0.0
    for hand, sign in (("left", 1), ("right", -1)):
        hip = hip_c0 + left * sign * body.hip_half
        dh = np.linalg.norm((ankles[hand] - hip)[:2])
        max_z = ankles[hand][2] + np.sqrt(max(leg * leg - dh * dh, 0.0))
        drop = max(drop, hip[2] - max_z)
    hip_c, neck, t_dir = torso_points(body, st.pos, st.heading, st.lean, st.crouch, drop)
    j[L_HIP] = hip_c + left * body.hip_half
    j[R_HIP] = hip_c - left * body.hip_half
    for hand, hip_i, knee_i, ankle_i in (("left", L_HIP, L_KNEE, L_ANKLE), ("right", R_HIP, R_KNEE, R_ANKLE)):
        knee, ankle = two_link(j[hip_i], ankles[hand], body.thigh, body.shin, f)
        j[knee_i], j[ankle_i] = knee, ankle
    j[L_SHOULDER] = neck + left * body.shoulder_half
    j[R_SHOULDER] = neck - left * body.shoulder_half
    # arms
    for hand, sh_i, el_i, wr_i, sign in (("left", L_SHOULDER, L_ELBOW, L_WRIST, 1),
                                         ("right", R_SHOULDER, R_ELBOW, R_WRIST, -1)):
        side = left * sign
        sh = j[sh_i]
        target = st.wrist.get(hand)
        if target is not None:
            pole = -UP * 0.6 + side * 0.6 - f * 0.3
        elif hand in st.carrying:
            target = sh - UP * body.upper_arm * 0.95 + f * body.forearm * 0.9 - side * 0.03 * s
            pole = -f - UP * 0.3
        else:
            swing_a = 0.35 * st.stride * np.sin(st.gait_phase) * (-sign)
            target = sh + (-UP * np.cos(swing_a) + f * np.sin(swing_a)) * body.arm * 0.97 + side * 0.05 * s
            pole = -f + side * 0.2
        j[el_i], j[wr_i] = two_link(sh, np.asarray(target, float), body.upper_arm, body.forearm, pole)
    # head
    g = st.heading if st.gaze is None else st.gaze
    fg, lg = frame(g)
    head = neck + t_dir * 0.19 * s
    j[NOSE] = head + fg * 0.10 * s - UP * 0.02 * s
    j[L_EYE] = head + fg * 0.085 * s + lg * 0.033 * s + UP * 0.015 * s
    j[R_EYE] = head + fg * 0.085 * s - lg * 0.033 * s + UP * 0.015 * s
    j[L_EAR] = head + lg * 0.075 * s - fg * 0.01 * s
    j[R_EAR] = head - lg * 0.075 * s - fg * 0.01 * s
    return j


@dataclass(frozen=True)
class ReachPose:
    heading: float
    lean: float
    crouch: float
    reachable: bool


def solve_reach(body: Body, pos: np.ndarray, target: np.ndarray, hand: str) -> ReachPose:
    """The least effortful lean and crouch that put `hand`'s wrist on target from pos.

    The body turns to face the target; lean and crouch come from a small grid
    search (effort grows with both), keeping the wrist at a natural 60-95 % of
    the arm's length from the shoulder.
    """
    d = np.asarray(target[:2], float) - pos
    heading = float(np.arctan2(d[1], d[0]))
    best: tuple[float, float, float] | None = None
    closest = (np.inf, 0.0, 0.0)
    for lean in np.radians(np.arange(0, 81, 5)):
        for crouch in np.arange(0, 0.46, 0.05) * body.s:
            sh = shoulder(body, pos, heading, lean, crouch, hand)
            dist = float(np.linalg.norm(target - sh))
            ratio = dist / body.arm
            if 0.6 <= ratio <= 0.95:
                cost = (lean / 0.3) ** 2 + (crouch / (0.1 * body.s)) ** 2 * 0.5 + 4 * (ratio - 0.85) ** 2
                if best is None or cost < best[0]:
                    best = (cost, lean, crouch)
            elif ratio > 0.95 and dist < closest[0]:
                closest = (dist, lean, crouch)
    if best is not None:
        return ReachPose(heading, best[1], best[2], True)
    return ReachPose(heading, closest[1], closest[2], False)
