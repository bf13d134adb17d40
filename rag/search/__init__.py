"""Finding passages: hybrid retrieval over the index (`retrieval`) and time phrases in a question turned
into date filters (`timeparse`)."""
