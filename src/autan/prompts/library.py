"""The built-in prompt templates, in French and English.

Each follows the Rôle / Objectif / Contexte / Consignes structure taught to public servants,
and marks what the reader must fill in as `[[texte à compléter]]`. None of them evaluates
people (agents, candidates, students): the usage charter forbids it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Category keys, in display order; their labels are English msgids of the catalogues.
CATEGORIES: dict[str, str] = {
    "writing": "Writing",
    "meetings": "Meetings and workshops",
    "analysis": "Analysis",
    "citizens": "Relations with the public",
    "languages": "Languages",
    "other": "Other",
}


@dataclass(frozen=True, slots=True)
class BuiltinPrompt:
    slug: str
    category: str
    title: dict[str, str]
    body: dict[str, str]


def _prompt(slug: str, category: str, fr: tuple[str, str], en: tuple[str, str]) -> BuiltinPrompt:
    return BuiltinPrompt(slug, category, {"fr": fr[0], "en": en[0]}, {"fr": fr[1], "en": en[1]})


BUILTINS: tuple[BuiltinPrompt, ...] = (
    _prompt(
        "reformuler-courriel",
        "writing",
        (
            "Reformuler un courriel",
            "Rôle : tu es un rédacteur expérimenté de l'administration.\n"
            "Objectif : reformuler le courriel ci-dessous pour qu'il soit clair, courtois et "
            "concis.\n"
            "Contexte : destinataire : [[qui reçoit le courriel]] ; ton souhaité : "
            "[[cordial, formel...]].\n"
            "Consignes : garde toutes les informations utiles, des phrases courtes, une "
            "formule d'appel et une formule de politesse adaptées ; n'invente rien.\n\n"
            "Courriel :\n[[coller le courriel ici]]",
        ),
        (
            "Rewrite an email",
            "Role: you are an experienced writer in a public administration.\n"
            "Goal: rewrite the email below so that it is clear, courteous and concise.\n"
            "Context: recipient: [[who receives the email]]; desired tone: "
            "[[friendly, formal...]].\n"
            "Instructions: keep every useful piece of information, use short sentences, a "
            "suitable greeting and closing; do not invent anything.\n\n"
            "Email:\n[[paste the email here]]",
        ),
    ),
    _prompt(
        "compte-rendu-reunion",
        "meetings",
        (
            "Compte rendu de réunion",
            "Rôle : tu es secrétaire de séance.\n"
            "Objectif : rédiger le compte rendu de la réunion à partir de la transcription "
            "ci-dessous.\n"
            "Contexte : réunion [[objet de la réunion]] du [[date]], participants : "
            "[[liste]].\n"
            "Consignes : structure en « Points abordés », « Décisions » et « Actions » (qui, "
            "quoi, pour quand) ; reste factuel, n'attribue aucune opinion qui ne figure pas "
            "dans la transcription ; signale les passages inaudibles ou ambigus.\n\n"
            "Transcription :\n[[coller la transcription ici]]",
        ),
        (
            "Minutes of a meeting",
            "Role: you are the meeting's secretary.\n"
            "Goal: write the minutes of the meeting from the transcript below.\n"
            "Context: meeting about [[subject]] on [[date]], participants: [[list]].\n"
            'Instructions: structure it as "Topics discussed", "Decisions" and "Actions" '
            "(who, what, by when); stay factual, attribute no opinion that is not in the "
            "transcript; point out inaudible or ambiguous passages.\n\n"
            "Transcript:\n[[paste the transcript here]]",
        ),
    ),
    _prompt(
        "note-administrative",
        "writing",
        (
            "Note administrative d'une page",
            "Rôle : tu es chargé de mission dans un cabinet ou une direction.\n"
            "Objectif : rédiger une note d'une page au plus pour [[destinataire, par exemple "
            "la directrice]].\n"
            "Contexte : sujet : [[sujet]] ; éléments disponibles : [[faits, chiffres, "
            "textes]].\n"
            "Consignes : un objet en une ligne, puis « Contexte », « Enjeux », « Options » et "
            "« Proposition » ; des phrases courtes ; cite les sources fournies ; signale ce "
            "qui reste à vérifier.",
        ),
        (
            "One-page administrative note",
            "Role: you are a policy officer in a ministry department.\n"
            "Goal: write a note of one page at most for [[recipient, e.g. the director]].\n"
            "Context: subject: [[subject]]; available material: [[facts, figures, texts]].\n"
            'Instructions: a one-line subject, then "Background", "Stakes", "Options" '
            'and "Recommendation"; short sentences; cite the sources provided; point out '
            "what remains to be checked.",
        ),
    ),
    _prompt(
        "analyser-avis-usagers",
        "analysis",
        (
            "Analyser des avis d'usagers",
            "Rôle : tu es analyste de la qualité de service.\n"
            "Objectif : dégager les thèmes principaux des avis et notes d'usagers "
            "ci-dessous.\n"
            "Contexte : service concerné : [[nom du service]] ; période : [[période]].\n"
            "Consignes : regroupe les avis par thème, donne pour chacun le nombre d'avis, "
            "leur tonalité et une citation courte représentative ; termine par trois pistes "
            "d'amélioration ; ne cherche jamais à identifier les personnes.\n\n"
            "Avis :\n[[coller les avis ici]]",
        ),
        (
            "Analyse comments and ratings from the public",
            "Role: you are a service-quality analyst.\n"
            "Goal: bring out the main themes of the comments and ratings below.\n"
            "Context: service: [[name of the service]]; period: [[period]].\n"
            "Instructions: group the comments by theme, give for each the number of "
            "comments, their tone and a short representative quote; end with three ideas "
            "for improvement; never try to identify the people.\n\n"
            "Comments:\n[[paste the comments here]]",
        ),
    ),
    _prompt(
        "preparer-atelier",
        "meetings",
        (
            "Préparer un atelier",
            "Rôle : tu es facilitateur d'ateliers collaboratifs.\n"
            "Objectif : proposer le déroulé d'un atelier de [[durée]] sur [[thème]].\n"
            "Contexte : participants : [[nombre et profils]] ; format : [[sur place ou à "
            "distance]] ; résultat attendu : [[livrable]].\n"
            "Consignes : un tableau avec horaire, séquence, objectif, méthode d'animation et "
            "matériel ; prévois un temps d'accueil, des pauses et une conclusion ; propose "
            "une variante si le groupe est plus nombreux.",
        ),
        (
            "Plan a workshop",
            "Role: you are a facilitator of collaborative workshops.\n"
            "Goal: propose the agenda of a [[duration]] workshop on [[theme]].\n"
            "Context: participants: [[number and profiles]]; format: [[on site or "
            "remote]]; expected result: [[deliverable]].\n"
            "Instructions: a table with time, sequence, goal, facilitation method and "
            "material; plan a welcome, breaks and a conclusion; suggest a variant for a "
            "larger group.",
        ),
    ),
    _prompt(
        "traduire",
        "languages",
        (
            "Traduire un texte",
            "Rôle : tu es traducteur professionnel.\n"
            "Objectif : traduire le texte ci-dessous en [[langue cible]].\n"
            "Contexte : public visé : [[public]].\n"
            "Consignes : respecte le sens, le registre et la mise en forme ; garde tels "
            "quels les noms propres et les références de textes ; signale entre crochets "
            "les termes qui n'ont pas d'équivalent exact.\n\n"
            "Texte :\n[[coller le texte ici]]",
        ),
        (
            "Translate a text",
            "Role: you are a professional translator.\n"
            "Goal: translate the text below into [[target language]].\n"
            "Context: intended readers: [[readers]].\n"
            "Instructions: keep the meaning, register and layout; keep proper names and "
            "legal references as they are; flag in square brackets the terms that have no "
            "exact equivalent.\n\n"
            "Text:\n[[paste the text here]]",
        ),
    ),
    _prompt(
        "resumer",
        "analysis",
        (
            "Résumer un document",
            "Rôle : tu es un assistant de synthèse.\n"
            "Objectif : résumer le document ci-dessous en [[nombre]] points au plus.\n"
            "Contexte : le résumé est destiné à [[lecteur]], qui n'a pas le temps de lire "
            "le document.\n"
            "Consignes : commence par l'idée principale en une phrase ; garde les chiffres "
            "et les dates clés ; n'ajoute aucune information absente du document.\n\n"
            "Document :\n[[coller le document ici]]",
        ),
        (
            "Summarise a document",
            "Role: you are a summarising assistant.\n"
            "Goal: summarise the document below in [[number]] points at most.\n"
            "Context: the summary is for [[reader]], who has no time to read the document.\n"
            "Instructions: start with the main idea in one sentence; keep the key figures "
            "and dates; add nothing that is not in the document.\n\n"
            "Document:\n[[paste the document here]]",
        ),
    ),
    _prompt(
        "repondre-usager",
        "citizens",
        (
            "Répondre à un usager",
            "Rôle : tu es agent d'accueil d'un service public.\n"
            "Objectif : préparer une réponse écrite à la demande ci-dessous.\n"
            "Contexte : service : [[nom du service]] ; éléments de réponse connus : "
            "[[règles, délais, pièces à fournir]].\n"
            "Consignes : un ton bienveillant et des mots simples ; réponds précisément à la "
            "question ; indique la prochaine étape et qui contacter ; si une information "
            "manque, dis-le au lieu de l'inventer. La réponse sera relue par un agent avant "
            "envoi.\n\n"
            "Demande :\n[[coller la demande ici]]",
        ),
        (
            "Answer a member of the public",
            "Role: you work at the front desk of a public service.\n"
            "Goal: prepare a written answer to the request below.\n"
            "Context: service: [[name of the service]]; known facts: [[rules, deadlines, "
            "documents required]].\n"
            "Instructions: a kind tone and simple words; answer the question precisely; "
            "give the next step and whom to contact; if something is missing, say so "
            "rather than invent it. An agent will review the answer before it is sent.\n\n"
            "Request:\n[[paste the request here]]",
        ),
    ),
    _prompt(
        "langage-clair",
        "citizens",
        (
            "Réécrire en langage clair",
            "Rôle : tu es spécialiste du langage clair administratif.\n"
            "Objectif : réécrire le texte ci-dessous pour qu'un usager le comprenne à la "
            "première lecture.\n"
            "Contexte : public : [[grand public, personnes âgées, jeunes...]].\n"
            "Consignes : phrases de 15 à 20 mots, voix active, un verbe d'action par "
            "consigne, pas de sigle sans explication ; garde le sens juridique exact et "
            "signale tout passage où la simplification risquerait de le changer.\n\n"
            "Texte :\n[[coller le texte ici]]",
        ),
        (
            "Rewrite in plain language",
            "Role: you are a specialist of plain administrative language.\n"
            "Goal: rewrite the text below so that a member of the public understands it at "
            "first reading.\n"
            "Context: readers: [[general public, older people, young people...]].\n"
            "Instructions: sentences of 15 to 20 words, active voice, one action verb per "
            "instruction, no acronym without an explanation; keep the exact legal meaning "
            "and flag any passage where simplifying could change it.\n\n"
            "Text:\n[[paste the text here]]",
        ),
    ),
    _prompt(
        "foire-aux-questions",
        "citizens",
        (
            "Rédiger une foire aux questions",
            "Rôle : tu es chargé de communication d'un service public.\n"
            "Objectif : rédiger une foire aux questions de [[nombre]] questions à partir du "
            "texte ci-dessous.\n"
            "Contexte : la page sera publiée sur [[site ou intranet]] pour [[public]].\n"
            "Consignes : des questions telles que les usagers les poseraient, des réponses "
            "courtes tirées uniquement du texte, un renvoi vers l'article ou la page source "
            "pour chaque réponse.\n\n"
            "Texte :\n[[coller le texte ici]]",
        ),
        (
            "Write frequently asked questions",
            "Role: you are a communication officer of a public service.\n"
            "Goal: write [[number]] frequently asked questions from the text below.\n"
            "Context: the page will be published on [[website or intranet]] for "
            "[[readers]].\n"
            "Instructions: questions as people would ask them, short answers taken only "
            "from the text, a reference to the source article or page for each answer.\n\n"
            "Text:\n[[paste the text here]]",
        ),
    ),
)

BY_SLUG: dict[str, BuiltinPrompt] = {prompt.slug: prompt for prompt in BUILTINS}
