"""Vocabulary for generated text: study topics, names, tags.

Word frequencies follow a Zipf-like law (the first words of each list are the
most common), so full-text search finds a few terms everywhere and most terms
in a handful of rows, as in real writing.
"""

from __future__ import annotations

# Subject words per category, most frequent first. A post or question draws its
# subject words from its own category, so "python" is frequent in computer
# science and rare elsewhere, as on a real site.
SUBJECT_WORDS: dict[str, list[str]] = {
    "computer-science": """python database query index algorithm recursion loop array string
        javascript react server request response cache memory thread process kernel compiler sql
        join transaction schema migration docker container linux bash encryption token hash
        protocol packet regression dataset model training neural gradient tensor""".split(),
    "mathematics": """calculus algebra function integral derivative matrix vector theorem proof
        equation graph geometry triangle limit series sequence convergence fourier laplace
        topology manifold lattice permutation combinatorics induction lemma corollary determinant
        eigenvalue""".split(),
    "physics": """physics energy force velocity momentum electron photon optics wave frequency
        circuit voltage current magnet field thermodynamics entropy pressure temperature
        quantum relativity gravity""".split(),
    "chemistry": """chemistry reaction molecule atom bond acid base solution catalyst gas liquid
        solid phase oxidation isomer titration equilibrium polymer""".split(),
    "biology": """biology cell protein genetics evolution ecology species enzyme membrane neuron
        brain hormone immune mitosis photosynthesis organism bacteria""".split(),
    "languages": """spanish french german vocabulary pronunciation tense verb noun adjective
        translation grammar subjunctive conjugation idiom accent""".split(),
    "history": """history revolution empire treaty constitution war dynasty colony republic
        parliament reform monarchy""".split(),
    "economics": """economics market demand supply inflation policy revenue cost marketing
        finance ledger balance audit tax budget forecast dividend portfolio""".split(),
    "literature": """literature poem novel author chapter character theme argument thesis
        citation source essay metaphor narrator sonnet""".split(),
    "engineering": """engineering design load beam torque motor sensor signal circuit prototype
        tolerance stress material""".split(),
    "music": """music harmony rhythm melody chord scale piano guitar composition orchestra tempo
        interval""".split(),
    "study-skills": """exam flashcards notes summary outline deadline semester lecture lab
        assignment homework revision schedule focus""".split(),
}

# All subject words, for titles of uncategorised items.
TOPIC_WORDS = [w for ws in SUBJECT_WORDS.values() for w in ws]


def _tail_words(n: int) -> list[str]:
    """Rare made-up terms (jargon, names, typos): the long tail of real vocabularies."""
    import random

    rng = random.Random(20240601)
    onset = "b c d f g h k l m n p r s t v z br cr dr fl gr kl pr st tr".split()
    vowel = "a e i o u ai ea io ou".split()
    coda = ["", "n", "r", "s", "x", "l", "m", "nd", "rk", "st"]
    out: set[str] = set()
    while len(out) < n:
        word = "".join(rng.choice(onset) + rng.choice(vowel) for _ in range(rng.randint(2, 3)))
        out.add(word + rng.choice(coda))
    return sorted(out, key=lambda w: (len(w), w))


TAIL_WORDS = _tail_words(4000)

COMMON_WORDS = """
the of and to in is that it for on with as this be are was by at or from have an
not can but what all we when your how which their if do will each about many then
them these so some would make like into time has look two more write go see number
way could people than first been call who its now find long down day did get come
made may part over new sound take only little work know place year live back give
most very after thing our just name good sentence man think say great where help
through much before line right too mean old any same tell boy follow came want show
also around form three small set put end does another well large must big even such
because turn here why ask went men read need land different home us move try kind
hand picture again change off play spell air away animal house point page letter
mother answer found study still learn should understand explain solve step example
problem question idea reason result method approach practice review test check start
""".split()

FIRST_NAMES = """
ana ben chloe david emma farid grace hiro ines jamal kate liam maya noah olivia pablo
quinn rosa sam tara umar vera will xena yusuf zoe amir bella carlos dana elif finn
gabi hana ivan julia kenji lena marco nina oscar priya rafael sofia tomas ulla victor
wen yara zane aisha bruno clara diego esra felix gina hugo iris jonas kira leo mila
""".split()

LAST_NAMES = """
silva smith garcia kim nguyen muller rossi haddad tanaka okafor novak jensen costa
ali brown lopez martin dubois schmidt khan ivanov sato moreau fischer romano chen
patel walker young hall allen wright scott green baker adams nelson hill campbell
""".split()

# Most frequent first.
CATEGORIES = [
    "computer-science", "mathematics", "study-skills", "physics", "biology", "languages",
    "chemistry", "economics", "literature", "history", "engineering", "music",
]

_TAG_SUBJECTS = """
python javascript sql calculus algebra statistics physics chemistry biology history
essay-writing grammar economics finance accounting geometry probability linux docker
react machine-learning deep-learning data-science networking security databases
algorithms recursion genetics ecology neuroscience philosophy ethics spanish french
german music-theory piano optics circuits thermodynamics topology combinatorics
""".split()
_TAG_SUFFIXES = ["", "-basics", "-exam", "-101", "-advanced", "-homework", "-project"]

# A few hundred tags (subjects x levels), most common first.
TAGS = [s + suffix for suffix in _TAG_SUFFIXES for s in _TAG_SUBJECTS]

# Terms the search benchmark rotates through: common, mid and rare subject words.
# The most frequent word of a category matches roughly one item in ten; the
# later ones far fewer; made-up tail words a handful.
SEARCH_TERMS = (
    [ws[0] for ws in SUBJECT_WORDS.values()][:6]
    + [ws[i] for i in (3, 8, 11) for ws in SUBJECT_WORDS.values()]
    + TAIL_WORDS[100:2000:200]
    + ["python recursion", "matrix determinant", "essay thesis", "exam deadline",
       "neural gradient", "sql join", "enzyme reaction", "fourier series"]
)

FILE_TYPES = [("pdf", "application/pdf"), ("pptx", "presentation"), ("docx", "document"),
              ("png", "image"), ("zip", "archive"), ("ipynb", "notebook")]
