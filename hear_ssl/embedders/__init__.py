"""HEAR models of the encoder families: front-end + encoder + the authors' pooling and chunking, one file per family."""
