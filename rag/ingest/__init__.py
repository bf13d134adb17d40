"""Reading articles in: files and folders (`documents`), web pages and feeds (`webpages`), `rag add`'s
downloads (`fetching`), and cutting documents into passages (`chunking`)."""
