"""Ranks catalog records with rank_bm25's BM25Okapi, an implementation independent of
Sluice's, for the directory search test.

Usage: bm25_reference.py INPUT.json

INPUT holds {"records": [{dataset, title, description, keywords, columns}], "queries":
[...]}. Each record's text is its title, description, keywords and column names, cut
into lowercase runs of letters and digits. Prints, per query, the records that hold at
least one of its terms as [dataset, score] pairs, best first, ties by dataset name.
"""

import json
import re
import sys

from rank_bm25 import BM25Okapi

WORD = re.compile(r"[^\W_]+")


def tokens(text):
    return WORD.findall(text.lower())


def main():
    spec = json.load(open(sys.argv[1]))
    records = spec["records"]
    corpus = []
    for r in records:
        text = [r["title"], r["description"], *r["keywords"], *r["columns"]]
        corpus.append([t for part in text for t in tokens(part)])
    bm25 = BM25Okapi(corpus)
    out = []
    for q in spec["queries"]:
        terms = tokens(q)
        scores = bm25.get_scores(terms)
        hits = [
            (r["dataset"], float(s))
            for r, s, doc in zip(records, scores, corpus)
            if any(t in doc for t in terms)
        ]
        hits.sort(key=lambda h: (-h[1], h[0]))
        out.append(hits)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
