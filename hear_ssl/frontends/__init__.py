"""Front-ends of the encoder families: waveform -> the features each official model was trained on (pure torch)."""
