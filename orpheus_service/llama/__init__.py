"""llama.cpp: the streaming /completion client and the llama-server process."""
