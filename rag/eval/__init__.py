"""`rag eval`: retrieval and answer quality measured on an evaluation index (`evaluation`)."""
