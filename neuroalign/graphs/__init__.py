"""Generative self-supervised learning on dynamic connectivity graphs.

Dense functional connectivity (static or sliding-window) becomes graphs
(:mod:`.spec`, :mod:`.dataset`, PyG ``Data``/``Batch`` on request), a
spatio-temporal graph encoder is pretrained with a masked graph autoencoder
objective (GraphMAE/GraphMAE2 style), and its frozen or fine-tuned embeddings
are probed on labels.
"""
