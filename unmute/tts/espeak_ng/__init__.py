"""libespeak-ng in-process through ctypes: `library` (the C declarations), `engine`
(`EspeakEngine`, one per process: voices, blocking synthesis with word events) and
`stream` (one synthesis in a worker thread, streamed to the event loop).

Used by the `espeak` backend and by the word-time estimator (`unmute.tts.word_timer`).
The library and its data come from the `espeak` extra (espeakng-loader); importing
these modules is cheap, the library loads on first use.
"""
