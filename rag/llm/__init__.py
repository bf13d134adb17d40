"""The language model: choosing, downloading and starting it (`models`), loading a GGUF into llama.cpp
(`llamacpp_load`) and the LangChain chat model around it (`llamacpp_chat`)."""
