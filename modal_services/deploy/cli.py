"""`unmute-tts deploy` and `deploy_orpheus_modal.py`: flags, exit statuses, output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from modal_services.config import ModalDeployConfig
from modal_services.deploy.ops import ModalOps, RealModalOps
from modal_services.deploy.plan import DeployError, DeployOptions, format_plan
from modal_services.deploy.report import env_block, test_commands, write_env_file
from modal_services.deploy.steps import deploy
from unmute.tts.settings import load_settings, settings_config

DESCRIPTION = """\
Deploy the Orpheus services on Modal (`--dry-run` prints the plan, offline).

Steps, in order:

1. Ask Modal whose token this machine uses (`modal token info`: Modal's own check).
2. Create the Modal Secret when missing: the key clients send (`ORPHEUS_API_KEY`;
   `--api-key`, else the variable, else generated at the first deploy and kept
   afterwards) and the key the service sends to llama-server.
3. Deploy the llama.cpp app (`modal deploy -m modal_services.orpheus_llama_modal`).
4. Download the GGUF into the models Volume once (skipped when it is there).
5. Look up the llama server's URL; 6. wait for its /health.
7. Write the URL (and a new client key) into the Secret.
8. Deploy the TTS app (`modal deploy -m modal_services.orpheus_fastapi_modal`);
   9. wait for its /health (SNAC loaded, llama-server answering).
10. Print the environment block for unmute and ready-to-paste test commands.

`--rotate-key` also changes the llama key without refusing a request: step 2 adds
the new key as the next key (llama-server accepts both after step 3), step 7
switches the service to it, and a last step makes it the only key and redeploys
the llama app. A failed step stops the deploy with exit status 1 and says what is
deployed now; success is reported only after every /health answered 200.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The deploy command's flags."""
    parser.add_argument("--dry-run", action="store_true", help="print the plan; contact nothing")
    parser.add_argument(
        "--api-key",
        help="key clients must send (default: ORPHEUS_API_KEY, else keep the Secret's key, "
        "else generate one)",
    )
    parser.add_argument(
        "--rotate-key",
        action="store_true",
        help="new client key; new llama key, rotated without a refused request",
    )
    parser.add_argument("--env", dest="environment", help="Modal environment to deploy into")
    parser.add_argument(
        "--health-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for /health after deploying (default 900: cold starts)",
    )
    parser.add_argument(
        "--skip-model-download",
        action="store_true",
        help="do not pre-download the GGUF (the first llama container downloads it then)",
    )
    parser.add_argument(
        "--env-file", type=Path, help="also write the environment block to this file (mode 600)"
    )


class DeployCredentials(BaseSettings):
    """Keys the deploy reads from the environment or `.env` (those the `orpheus` backend reads)."""

    model_config = settings_config("ORPHEUS_", env_ignore_empty=True)

    api_key: SecretStr | None = None
    """The service's key to keep (ORPHEUS_API_KEY) unless --api-key or --rotate-key is
    given; unset: the deploy makes one."""
    modal_key: SecretStr | None = None
    """Modal proxy-auth token id (ORPHEUS_MODAL_KEY), for the health check through Modal's proxy."""
    modal_secret: SecretStr | None = None
    """Modal proxy-auth token secret (ORPHEUS_MODAL_SECRET)."""


def _value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def options_from_args(args: argparse.Namespace, credentials: DeployCredentials) -> DeployOptions:
    """DeployOptions from parsed flags and the credentials of the environment."""
    if args.api_key and args.rotate_key:
        raise DeployError("--api-key and --rotate-key exclude each other")
    api_key = args.api_key or (None if args.rotate_key else _value(credentials.api_key))
    return DeployOptions(
        dry_run=args.dry_run,
        api_key=api_key,
        rotate_key=args.rotate_key,
        environment=args.environment,
        health_timeout_s=args.health_timeout,
        prefetch_model=not args.skip_model_download,
        env_file=args.env_file,
        modal_key=_value(credentials.modal_key),
        modal_secret=_value(credentials.modal_secret),
    )


def run(args: argparse.Namespace, *, ops: ModalOps | None = None) -> int:
    """Run the deploy command; returns the exit status."""
    try:
        config = ModalDeployConfig.load()
        credentials = load_settings(DeployCredentials, secret=DeployCredentials.model_fields)
        options = options_from_args(args, credentials)
    except (DeployError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if options.dry_run:
        print(format_plan(config, options))
        return 0
    try:
        result = deploy(config, options, ops or RealModalOps(config, options.environment))
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # Modal refusing this machine's token is a setup error, found before any work.
        return 2 if exc.step == "credentials" else 1
    block = env_block(result, config)
    print("\nDeployed and healthy.\n\nEnvironment for unmute (add to .env or export):\n")
    print(block)
    if options.env_file is not None:
        write_env_file(options.env_file, block)
        print(f"\n(written to {options.env_file}, mode 600)")
    print("\nTry it:\n")
    print(test_commands(result, config))
    print(
        "\nRotate the keys: `unmute-tts deploy --rotate-key` (a new client key in the Secret "
        f"{config.secret_name!r}: update ORPHEUS_API_KEY wherever unmute runs; the llama key "
        "changes without a refused request)."
    )
    return 0


def register(subparsers: Any) -> None:
    """Add `deploy` to `unmute-tts`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deploy",
        help="deploy the Orpheus services on Modal (llama.cpp on L40S, TTS on L4)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of deploy_orpheus_modal.py."""
    parser = argparse.ArgumentParser(
        prog="deploy_orpheus_modal.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
