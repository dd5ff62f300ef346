"""Search over document chunks: lexical, dense and hybrid."""
