"""Thin Modal wrappers around the Orpheus service, and their deployment.

- `config`: every deployment knob (`ORPHEUS_MODAL_*`), and everything the Modal
  modules declare, computed in plain Python (tests assert it without Modal).
- `images`: what each image holds: this project's source folders, the package lists,
  the pinned torch build, the SNAC weights baked at build time.
- `llama_keys`: the key between the service and llama-server, and its rotation.
- `orpheus_llama_modal` (with `llama_runtime`): llama.cpp's `llama-server` on an L40S.
- `orpheus_fastapi_modal` (with `tts_runtime`): the Orpheus FastAPI service (SNAC
  decoding) on an L4.
- `deploy/`: `unmute-tts deploy` / `deploy_orpheus_modal.py`.

Importing this package imports nothing from Modal.
"""
