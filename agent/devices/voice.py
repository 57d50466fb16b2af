"""Voice prompts at the gate (issue 23): the agent box's own speaker, offline, with eSpeak NG.

eSpeak NG is a Debian package (``espeak-ng``, installed by ``infra/sysdeps.sh``) with a Mandarin voice
(``cmn``); it needs no network and no model download. :class:`EspeakVoice` synthesises the sentence
to a WAV file and plays it with ``player`` (``aplay`` from alsa-utils on a box with a sound card);
without a player, or when the player fails (no sound card), the prompt is still synthesised and
kept as ``last_wav`` and the health says why nothing was heard. Screens with their own voice
module (灵信-style ``0x30``, BX with sound) speak through the LED driver instead
(``screen_voice = true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

import structlog

from agent.devices.health import HealthTracker
from agent.devices.types import DeviceHealth

_log = structlog.get_logger("agent.devices.voice")


class EspeakVoice:
    """Speak Chinese sentences with eSpeak NG (``espeak-ng -v cmn``); failures are health, never raised."""

    kind = "voice"

    def __init__(
        self,
        *,
        name: str = "voice",
        voice: str = "cmn",
        words_per_minute: int = 150,
        player: tuple[str, ...] | None = ("aplay", "-q"),
        directory: str | Path | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.player = player
        self.timeout_s = timeout_s
        self.directory = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="ecogate-voice-"))
        self._health = HealthTracker(name, self.kind)
        self._lock = asyncio.Lock()
        self.last_text: str | None = None
        self.last_wav: Path | None = None
        self.spoken = 0

    @property
    def health(self) -> DeviceHealth:
        """Current health snapshot."""
        return self._health.current

    @staticmethod
    def available() -> bool:
        """Whether eSpeak NG is installed."""
        return shutil.which("espeak-ng") is not None

    async def say(self, text: str) -> bool:
        """Synthesise (and play) ``text``; True when it was synthesised (and played, with a player)."""
        async with self._lock:
            wav = self.directory / f"prompt-{self.spoken % 2}.wav"
            ok, detail = await self._run(
                "espeak-ng", "-v", self.voice, "-s", str(self.words_per_minute), "-w", str(wav), "--", text
            )
            if not ok:
                self._health.fault("tts_failed", "语音合成失败（请安装 espeak-ng）", detail)
                return False
            self.last_text, self.last_wav = text, wav
            self.spoken += 1
            if not self.player:
                self._health.ok("语音提示已生成（未配置播放器）")
                return True
            ok, detail = await self._run(*self.player, str(wav))
            if not ok:
                self._health.degraded("no_audio", "语音已合成但无法播放（请检查音箱/声卡）", detail)
                return False
            self._health.ok("语音提示正常")
            return True

    async def _run(self, *argv: str) -> tuple[bool, str]:
        if shutil.which(argv[0]) is None:
            return False, f"{argv[0]} not found"
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            return False, repr(exc)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return False, f"{argv[0]} timed out after {self.timeout_s:g} s"
        if proc.returncode != 0:
            _log.warning("voice.command_failed", argv=argv[0], code=proc.returncode)
            return False, err.decode(errors="replace")[-300:]
        return True, ""
