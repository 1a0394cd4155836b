"""Each image's build steps, rendered by Modal's own Dockerfile functions (as a deploy
sends them) and parsed by a real Dockerfile parser (dockerfile-parse): every line
is a valid instruction, one per step, and the steps are the ones chosen on purpose
(pinned torch build, pinned llama.cpp build, SNAC baked at the path the service loads).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from modal_services.config import ModalDeployConfig
from modal_services.images import snac_bake_command, torch_index_url, torch_requirement
from tests.modal_services.helpers import Layer, build_layers, parse_dockerfile

INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


def parse(layer: Layer) -> list[dict[str, Any]]:
    """The instructions dockerfile-parse reads from one step's Dockerfile."""
    return list(parse_dockerfile(layer.commands).structure)


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Layer]]:
    import modal_services.orpheus_fastapi_modal as tts
    import modal_services.orpheus_llama_modal as llama

    return {"llama": build_layers(llama.image), "tts": build_layers(tts.image)}


@pytest.mark.parametrize("name", ["llama", "tts"])
def test_every_build_step_is_valid_dockerfile_one_instruction_per_line(
    layers: dict[str, list[Layer]], name: str
) -> None:
    steps = [layer for layer in layers[name] if layer.commands]
    assert steps, f"no build step found for the {name} image"
    for layer in steps:
        instructions = parse(layer)
        assert [
            i["instruction"] for i in instructions if i["instruction"] not in INSTRUCTIONS
        ] == []
        assert len(instructions) == len(layer.commands), (
            f"{name}: {len(layer.commands)} Dockerfile lines read as {len(instructions)} "
            f"instructions: {layer.commands}"
        )


def run_lines(layers: list[Layer]) -> list[str]:
    return [
        i["value"]
        for layer in layers
        for i in parse(layer)
        if i["instruction"] == "RUN" and layer.commands
    ]


def test_snac_weights_are_baked_by_one_valid_command_into_the_loaded_folder(
    layers: dict[str, list[Layer]],
) -> None:
    config = ModalDeployConfig.load()
    command = snac_bake_command(config)
    assert command in run_lines(layers["tts"])
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"] and len(argv) == 3
    code = compile(argv[2], "<snac bake>", "exec")  # a valid Python program
    assert {"hf_hub_download"} <= set(code.co_names)
    for literal in (config.snac_repo, config.snac_dir, "config.json", "pytorch_model.bin"):
        assert json.dumps(literal) in argv[2]


def test_tts_image_installs_the_pinned_torch_build_before_anything_else(
    layers: dict[str, list[Layer]],
) -> None:
    config = ModalDeployConfig.load()
    # The project's steps (Modal's own base layers upgrade pip with `pip install` too).
    installs = [line for line in run_lines(layers["tts"]) if line.startswith("python -m pip")]
    first = shlex.split(installs[0])
    assert torch_requirement(config) in first
    assert torch_requirement(config) == f"torch=={config.torch_version}+{config.torch_cuda}"
    assert first[first.index("--index-url") + 1] == torch_index_url(config)
    assert not any(arg.startswith("torch") for line in installs[1:] for arg in shlex.split(line))


def test_llama_image_is_a_pinned_llama_cpp_build_with_its_entrypoint_cleared(
    layers: dict[str, list[Layer]],
) -> None:
    config = ModalDeployConfig.load()
    froms = [
        i["value"] for layer in layers["llama"] for i in parse(layer) if i["instruction"] == "FROM"
    ]
    assert froms[0] == config.llama_image
    repository, tag = config.llama_image.rsplit(":", 1)
    assert repository == "ghcr.io/ggml-org/llama.cpp"
    assert tag.startswith("server-cuda-b") and tag.removeprefix("server-cuda-b").isdigit()
    entrypoints = [
        i["value"]
        for layer in layers["llama"]
        for i in parse(layer)
        if i["instruction"] == "ENTRYPOINT"
    ]
    assert entrypoints == ["[]"]


def test_the_multi_line_command_of_old_would_not_parse_as_one_instruction() -> None:
    # The check above catches what it is meant to: a command spanning lines.
    layer = Layer(["FROM base", "RUN python -c 'import x\nfor n in y:\n    x(n)\n'"], False)
    assert len(parse(layer)) != len(layer.commands)


def test_llama_image_env_reproduces_the_deploy_config(
    layers: dict[str, list[Layer]], tmp_path: Path
) -> None:
    env: dict[str, str] = {}
    for layer in layers["llama"]:
        env.update(parse_dockerfile(layer.commands).envs)
    config = ModalDeployConfig.load()
    assert env["ORPHEUS_MODAL_LLAMA_IMAGE"] == config.llama_image
    assert env["ORPHEUS_MODEL_NAME"] == config.model_name
