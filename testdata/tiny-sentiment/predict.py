"""Score a sentence with the tiny sentiment model: python3 predict.py "great fun"."""
import json
import sys

import numpy as np

weights = np.load("weights.npz")
vocab = json.load(open("tokenizer/tokenizer.json"))["vocab"]
tokens = [vocab.get(word, vocab["<unk>"]) for word in sys.argv[1].lower().split()]
counts = np.bincount(tokens, minlength=len(vocab))[: len(vocab)]
logits = counts @ weights["coef"] + weights["intercept"]
print(["negative", "positive"][int(logits.argmax())])
