"""Turning text into vectors: the `Embedder` (`embeddings`), its int8 ONNX export (`onnx_export`) and the
worker processes that embed a large corpus in parallel (`embedding_workers`)."""
