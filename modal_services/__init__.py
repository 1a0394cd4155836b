"""Thin Modal wrappers around the Orpheus service, and their deployment.

- `config`: every deployment knob (`ORPHEUS_MODAL_*`), and everything the Modal
  modules declare, computed in plain Python (tests assert it without Modal).
- `orpheus_llama_modal`: llama.cpp's `llama-server` on an L40S.
- `orpheus_fastapi_modal`: the Orpheus FastAPI service (SNAC decoding) on an L4.
- `deploy`: `unmute-tts deploy` / `deploy_orpheus_modal.py`.

Importing this package imports nothing from Modal.
"""
