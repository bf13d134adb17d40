"""Answering a question: the chain (`chain`), the evidence the model reads (`evidence`), the check of each
sentence against what it cites (`verification`), the defences against instructions inside articles
(`injection`) and the prompts (`prompts`). The values an answer is made of are in `rag.types`."""
