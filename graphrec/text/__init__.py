"""Item text features: build one text per item, embed it with a language model, cache the result.

:mod:`graphrec.text.builder` turns an item table into texts,
:mod:`graphrec.text.encoders` embeds texts (a sentence-transformers model or
TF-IDF with truncated SVD), :mod:`graphrec.text.cache` stores embeddings on
disk, and :mod:`graphrec.text.features` joins the three for models.
"""
