#!/usr/bin/env python3
"""Replays the Dockerfile's build offline, without Docker, so that a build the
image would fail is caught by the test command.

What it does, instruction by instruction:
- assembles the build context exactly as `docker build .` would send it: the
  repository's files (tracked and untracked-but-not-git-ignored, i.e. a
  fresh clone plus work in progress) filtered through .dockerignore with
  Docker's matching rules (last matching pattern wins, `!` re-includes, a
  pattern naming a directory covers everything under it);
- gives every stage a scratch root directory; WORKDIR, COPY (from the
  context, or --from=<stage> out of that stage's scratch root) and RUN act on
  it; absolute paths in RUN scripts that are not system tool locations
  (/build, /out, ...) are mapped into the scratch root;
- runs each RUN script with the Dockerfile's SHELL and a `cargo` shim first on
  PATH. The shim does not compile (a release build takes many minutes); for
  `cargo build` it runs the real `cargo fetch` with the same --locked /
  --frozen flags on the tree as the stage has it at that point: like the
  build, fetch loads every target of the manifest and rejects one whose
  declared bench, example, test or bin file is missing, or a stale
  Cargo.lock (`cargo metadata` alone does not: it leaves such a bench out
  without an error). It then reads the targets with `cargo metadata`,
  checks that the selected
  targets (--bin NAME, ...) exist, that every include_str!/include_bytes! of
  the package's sources resolves (config/ must be copied before compiling),
  and leaves a placeholder for each selected binary under target/<profile>/
  so that the next steps (install, COPY --from) find what a build leaves.
  `cargo fetch` and `cargo metadata` run for real (offline when the
  registry cache has everything).

Every cargo command the Dockerfile runs must have been replayed and passed;
every COPY source must exist. Standard library only.

Usage: check_docker_build.py [--dockerfile PATH] [--context DIR]
"""

import argparse
import json
import os
import posixpath
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Top-level directories a RUN script reaches on the builder image as tools,
# not as files the build makes: left as they are on this machine.
SYSTEM_DIRS = {"bin", "sbin", "usr", "lib", "lib32", "lib64", "etc", "dev", "proc", "sys", "tmp", "var", "opt", "run"}


# ---------------------------------------------------------------- .dockerignore
class IgnorePattern:
    """One .dockerignore line, compiled as moby's patternmatcher does."""

    def __init__(self, line):
        self.exclusion = line.startswith("!")
        pattern = line[1:].strip() if self.exclusion else line
        pattern = posixpath.normpath(pattern).lstrip("/")
        self.text = pattern
        self.dirs = pattern.split("/")
        self.regex = re.compile(self._to_regex(pattern))

    @staticmethod
    def _to_regex(pattern):
        out, index = "^", 0
        while index < len(pattern):
            char = pattern[index]
            if char == "*":
                if pattern.startswith("**", index):
                    index += 2
                    if pattern.startswith("/", index):
                        index += 1
                    out += ".*" if index >= len(pattern) else "(.*/)?"
                    continue
                out += "[^/]*"
            elif char == "?":
                out += "[^/]"
            elif char == "\\" and index + 1 < len(pattern):
                index += 1
                out += re.escape(pattern[index])
            elif char == "[":
                end = pattern.find("]", index)
                if end < 0:
                    out += re.escape(char)
                else:
                    out += pattern[index:end + 1].replace("[!", "[^")
                    index = end
            else:
                out += re.escape(char)
            index += 1
        return out + "$"

    def matches(self, path):
        if self.regex.match(path):
            return True
        parents = path.split("/")[:-1]
        # A pattern that names a directory covers what is under it.
        return bool(parents) and len(self.dirs) <= len(parents) and bool(
            self.regex.match("/".join(parents[: len(self.dirs)])))


def read_dockerignore(path):
    if not path.exists():
        return []
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            patterns.append(IgnorePattern(line))
    return patterns


def excluded(path, patterns):
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue  # cannot change the outcome
        if pattern.matches(path):
            matched = not pattern.exclusion
    return matched


def assemble_context(repo, destination):
    """Copies what `docker build` would send into `destination`; returns the
    relative paths."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=repo, capture_output=True, check=True).stdout.decode().split("\0")
    patterns = read_dockerignore(repo / ".dockerignore")
    sent = []
    for relative in sorted(set(filter(None, listed))):
        source = repo / relative
        if not source.is_file() or excluded(relative, patterns):
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        sent.append(relative)
    return sent


# ------------------------------------------------------------------ Dockerfile
def instructions(text):
    """(line number, INSTRUCTION, arguments) with continuation lines joined as
    Docker joins them, comment lines inside a continuation dropped."""
    result, buffer, start = [], "", None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if buffer == "" and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if start is None:
            start = number
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1]
            continue
        buffer += line
        keyword, _, rest = buffer.strip().partition(" ")
        result.append((start, keyword.upper(), rest.strip()))
        buffer, start = "", None
    return result


def json_or_words(arguments):
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


class Stage:
    def __init__(self, index, image, name, scratch):
        self.index, self.image, self.name = index, image, name
        self.root = scratch / f"stage-{index}"
        self.root.mkdir()
        self.workdir = "/"
        self.shell = ["/bin/sh", "-c"]
        self.env = {}

    def path(self, container_path):
        joined = posixpath.normpath(posixpath.join(self.workdir, container_path))
        return self.root / joined.lstrip("/")


def map_absolute_paths(script, stage):
    """Absolute paths the build creates (/build, /out) point into the stage's
    scratch root; tool locations (/bin, /usr, ...) stay."""
    def replace(match):
        first = match.group(2).split("/")[1]
        if first in SYSTEM_DIRS:
            return match.group(0)
        return match.group(1) + str(stage.root) + match.group(2)
    return re.sub(r"(^|[\s=\"'(:])(/[A-Za-z0-9_.][A-Za-z0-9_./-]*)", replace, script)


def copy_into(source, destination, many):
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True, symlinks=True)
    else:
        if many or str(destination).endswith("/") or destination.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            destination = destination / source.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


# -------------------------------------------------------------------- the shim
CARGO_SHIM = r'''#!/usr/bin/env python3
"""cargo, as the Docker build replay sees it (tests/deploy/check_docker_build.py)."""
import glob, json, os, re, subprocess, sys
from pathlib import Path

REAL = os.environ["REPLAY_REAL_CARGO"]
LOG = os.environ["REPLAY_CARGO_LOG"]
args = sys.argv[1:]

def log(entry):
    with open(LOG, "a") as handle:
        handle.write(json.dumps(entry) + "\n")

def fail(message):
    log({"argv": args, "cwd": os.getcwd(), "ok": False, "why": message})
    print(f"cargo (replayed): {message}", file=sys.stderr)
    sys.exit(101)

def real(extra, offline_first=True):
    """The real cargo, offline when the local registry cache suffices."""
    if offline_first:
        done = subprocess.run([REAL] + extra + ["--offline"], capture_output=True, text=True)
        if done.returncode == 0 or "offline" not in done.stderr:
            return done
    return subprocess.run([REAL] + extra, capture_output=True, text=True)

def values(flag):
    found = []
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            found.append(args[index + 1])
        elif arg.startswith(flag + "="):
            found.append(arg.split("=", 1)[1])
    return found

command = next((a for a in args if not a.startswith("-")), None)
lock_flags = [f for f in ("--locked", "--frozen") if f in args]
manifest = values("--manifest-path")
manifest_flags = ["--manifest-path", manifest[0]] if manifest else []

if command in ("fetch", "metadata", "tree", "generate-lockfile") or "--version" in args or "-V" in args:
    done = real(args)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        fail(f"cargo {' '.join(args)} failed: {done.stderr.strip()}")
    log({"argv": args, "cwd": os.getcwd(), "ok": True, "why": "ran for real"})
    sys.exit(0)

if command != "build":
    fail(f"the replay does not know how to check `cargo {command}`: teach tests/deploy/check_docker_build.py")

# cargo fetch loads every target of the manifest (cargo metadata does not:
# it silently leaves out a declared bench whose file is missing), resolves
# against Cargo.lock under the same --locked/--frozen, and compiles nothing.
done = real(["fetch"] + lock_flags + manifest_flags)
if done.returncode != 0:
    fail("cargo fetch " + " ".join(lock_flags) + " rejects this tree: " + done.stderr.strip())
done = real(["metadata", "--format-version", "1"] + lock_flags + manifest_flags)
if done.returncode != 0:
    fail("cargo metadata " + " ".join(lock_flags) + " rejects this tree: " + done.stderr.strip())
metadata = json.loads(done.stdout)
members = set(metadata["workspace_members"])
packages = [p for p in metadata["packages"] if p["id"] in members]
wanted_packages = values("-p") + values("--package")
if wanted_packages:
    packages = [p for p in packages if p["name"] in wanted_packages]
    if not packages:
        fail(f"no workspace package named {wanted_packages}")
targets = [(p, t) for p in packages for t in p["targets"]]

def named(kind, names):
    chosen = []
    for name in names:
        hit = [(p, t) for p, t in targets if kind in t["kind"] and t["name"] == name]
        if not hit:
            fail(f"--{kind} {name}: no such target in the manifest")
        chosen += hit
    return chosen

selected = named("bin", values("--bin")) + named("example", values("--example")) \
    + named("bench", values("--bench")) + named("test", values("--test"))
for flag, kind in (("--bins", "bin"), ("--examples", "example"), ("--benches", "bench"), ("--tests", "test")):
    if flag in args or "--all-targets" in args:
        selected += [(p, t) for p, t in targets if kind in t["kind"]]
if "--lib" in args or not selected:
    selected += [(p, t) for p, t in targets if set(t["kind"]) & {"lib", "rlib", "cdylib", "dylib", "staticlib", "proc-macro"}]
if not any(a in args for a in ("--bin", "--bins", "--lib", "--example", "--examples", "--bench", "--benches", "--test", "--tests", "--all-targets")) \
        and not any(a.startswith(("--bin=", "--example=", "--bench=", "--test=")) for a in args):
    selected += [(p, t) for p, t in targets if "bin" in t["kind"]]

# What rustc would need beyond the target files: include_str!/include_bytes!.
missing = []
for package in packages:
    source_root = Path(package["manifest_path"]).parent / "src"
    for source in source_root.rglob("*.rs"):
        for match in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', source.read_text(errors="replace")):
            if not (source.parent / match.group(1)).exists():
                missing.append(f"{source.relative_to(source_root.parent)}: {match.group(1)}")
if missing:
    fail("files the sources include are not in the build tree: " + ", ".join(missing))

profile = "release" if "--release" in args else (values("--profile") or ["debug"])[0]
profile_dir = {"dev": "debug", "test": "debug", "bench": "release"}.get(profile, profile)
target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or metadata["target_directory"])
made = []
for package, target in selected:
    if "bin" in target["kind"]:
        placeholder = target_dir / profile_dir / target["name"]
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_text("#!/bin/sh\necho placeholder of a binary the Docker build replay did not compile\n")
        placeholder.chmod(0o755)
        made.append(str(placeholder.relative_to(target_dir)))
log({"argv": args, "cwd": os.getcwd(), "ok": True,
     "why": f"manifest valid ({len(targets)} targets), {len(selected)} selected, placeholders {made}"})
'''


def cargo_commands(script):
    """Textual cargo invocations in a RUN script."""
    return re.findall(r"(?:^|[\s;&|(])cargo\s+[^;&|)]*", script)


def replay(dockerfile, repo, scratch, report):
    failures = []
    context = scratch / "context"
    context.mkdir()
    sent = assemble_context(repo, context)
    report.append(f"context: {len(sent)} files after .dockerignore ({', '.join(sorted({s.split('/')[0] for s in sent}))})")

    shim_dir = scratch / "shim"
    shim_dir.mkdir()
    (shim_dir / "cargo").write_text(CARGO_SHIM)
    (shim_dir / "cargo").chmod(0o755)
    cargo_log = scratch / "cargo.log"
    real_cargo = shutil.which("cargo")
    if real_cargo is None:
        return ["cargo is not on PATH"], 0, []

    environment = {k: v for k, v in os.environ.items()
                   if not (k.startswith("CARGO_") and k != "CARGO_HOME") and not k.startswith("RUSTFLAGS")}
    environment.update({"PATH": f"{shim_dir}:{os.environ['PATH']}", "REPLAY_REAL_CARGO": real_cargo,
                        "REPLAY_CARGO_LOG": str(cargo_log), "CARGO_TERM_COLOR": "never"})

    stages, stage, expected_cargo = {}, None, 0
    for number, keyword, arguments in instructions(dockerfile.read_text()):
        where = f"Dockerfile:{number} {keyword}"
        if keyword == "FROM":
            words = arguments.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stage = Stage(len(stages), words[0], name, scratch)
            stages[str(stage.index)] = stage
            if name:
                stages[name] = stage
            report.append(f"{where} {words[0]}" + (f" AS {name}" if name else ""))
        elif stage is None or keyword in ("ARG", "LABEL", "EXPOSE", "USER", "HEALTHCHECK", "ENTRYPOINT", "CMD",
                                         "STOPSIGNAL", "VOLUME", "ONBUILD"):
            continue
        elif keyword == "SHELL":
            stage.shell = json.loads(arguments)
        elif keyword == "ENV":
            for pair in shlex.split(arguments):
                if "=" in pair:
                    key, _, value = pair.partition("=")
                    stage.env[key] = value
        elif keyword == "WORKDIR":
            stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, arguments))
            stage.path(".").mkdir(parents=True, exist_ok=True)
        elif keyword in ("COPY", "ADD"):
            words = json_or_words(arguments)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            sources, destination = paths[:-1], paths[-1]
            origin = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if origin is not None and origin not in stages:
                failures.append(f"{where}: --from={origin} is not an earlier stage")
                continue
            for source in sources:
                if origin is None:
                    base = context
                    candidates = sorted(base.glob(source.lstrip("/").rstrip("/"))) if any(c in source for c in "*?[") \
                        else [base / source.rstrip("/")]
                else:
                    candidates = [stages[origin].root / source.lstrip("/")]
                found = [c for c in candidates if c.exists()]
                if not found:
                    where_from = "the build context (.dockerignore?)" if origin is None else f"stage {origin}"
                    failures.append(f"{where}: {source} is not in {where_from}")
                    continue
                for item in found:
                    target = stage.path(destination)
                    if destination.endswith("/"):
                        target = Path(str(target) + "/")
                    copy_into(item, target, len(sources) > 1 or len(found) > 1)
            report.append(f"{where} {arguments}")
        elif keyword == "RUN":
            if arguments.startswith("--"):
                failures.append(f"{where}: RUN flags are not replayed: {arguments.split()[0]}")
                continue
            script = map_absolute_paths(arguments, stage)
            expected_cargo += len(cargo_commands(arguments))
            before = len(cargo_log.read_text().splitlines()) if cargo_log.exists() else 0
            command = json.loads(arguments) if arguments.startswith("[") else stage.shell + [script]
            done = subprocess.run(command, cwd=stage.path("."), env={**environment, **stage.env},
                                  capture_output=True, text=True)
            entries = [json.loads(line) for line in cargo_log.read_text().splitlines()[before:]] if cargo_log.exists() else []
            for entry in entries:
                report.append(f"  cargo {' '.join(entry['argv'])}: {'ok' if entry['ok'] else 'FAIL'} ({entry['why']})")
            if done.returncode != 0:
                failures.append(f"{where} exits {done.returncode}: {done.stderr.strip()[-1500:]}")
            else:
                report.append(f"{where} ok ({len(entries)} cargo commands)")
    logged = [json.loads(line) for line in cargo_log.read_text().splitlines()] if cargo_log.exists() else []
    return failures, expected_cargo, logged


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", default=str(ROOT / "Dockerfile"))
    parser.add_argument("--context", default=str(ROOT))
    args = parser.parse_args()
    report = []
    with tempfile.TemporaryDirectory(prefix="etl-medic-docker-replay.") as scratch:
        failures, expected, logged = replay(Path(args.dockerfile), Path(args.context), Path(scratch), report)
    print("\n".join(report))
    passed = [entry for entry in logged if entry["ok"]]
    if expected == 0:
        failures.append("the Dockerfile runs no cargo command at all")
    if len(passed) < expected:
        failures.append(f"the Dockerfile names {expected} cargo commands, only {len(passed)} were replayed and valid")
    for failure in failures:
        print(f"FAIL  {failure}")
    print(f"docker build replay: {len(passed)} of {expected} cargo commands valid, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
