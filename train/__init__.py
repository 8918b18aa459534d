"""rtdepth's training package (installs as ``train``): datasets, the paper's loss, trainer, evaluation."""
