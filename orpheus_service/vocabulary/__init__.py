"""What every layer of the Orpheus service speaks: token ids and the audio token layout
(`tokens`), frames and PCM (`audio`), voices (`voices`), the prompt (`prompt`), sampling
(`sampling`) and what the engine needs of a language model (`token_source`).

The bottom layer: it imports nothing else of the service. `voices` and `sampling` import
only the standard library and pydantic, so the light `orpheus` client backend uses them.
"""
