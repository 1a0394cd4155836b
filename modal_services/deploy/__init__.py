"""Deploy the Orpheus services on Modal: `unmute-tts deploy` or `python deploy_orpheus_modal.py`.

- `plan`: the options and the steps (`--dry-run` prints them).
- `ops`: every call to Modal (its CLI and its Python client), in one class.
- `steps`: the deploy, step by step, with the key rotation and /health waits.
- `report`: the environment block and test commands printed at the end.
- `cli`: the command line (`main`, and `register` for `unmute-tts deploy`).
"""

from modal_services.deploy.cli import main, register, run

__all__ = ["main", "register", "run"]
