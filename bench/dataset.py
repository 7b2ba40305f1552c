"""Deterministic, realistic CSV files: accents and non-Latin scripts, varied domains, custom
fields, and a few percent of invalid and duplicate rows."""

import csv
import io
import random
from dataclasses import dataclass

FIRST = [
    "Ada",
    "Zoë",
    "José",
    "Mária",
    "Søren",
    "Aiko",
    "Chidi",
    "Léa",
    "Oksana",
    "Rahul",
    "Björk",
    "Dmitri",
    "Amélie",
    "Kwame",
    "Ingrid",
    "Yusuf",
    "Élodie",
    "Tomás",
    "Priya",
    "Fatima",
    "Hiroshi",
    "Camille",
    "Mateo",
    "Olusegun",
    "Åsa",
    "Noor",
    "Giulia",
    "Wanjiru",
    "Ewa",
    "Jonas",
]
LAST = [
    "Lovelace",
    "Ångström",
    "García",
    "Kovács",
    "Tanaka",
    "Okafor",
    "Dubois",
    "Shevchenko",
    "Sharma",
    "Guðmundsdóttir",
    "Ivanov",
    "Lefèvre",
    "Mensah",
    "Bergström",
    "Demir",
    "Álvarez",
    "Iyer",
    "Haddad",
    "Sato",
    "Rossi",
    "de Vries",
    "Adeyemi",
    "Lindqvist",
    "Müller",
    "Nowak",
]
NON_LATIN = [
    "王伟",
    "김민준",
    "Алексей Смирнов",
    "محمد علي",
    "佐藤 花子",
    "Γιώργος Παπαδόπουλος",
    "अनिल कुमार",
]
DOMAINS = [
    "example.edu",
    "students.example.ac.uk",
    "mail.example.com",
    "example.de",
    "corp.example.org",
    "example.fr",
    "alumni.example.jp",
    "example.com.br",
]
TITLES = [
    "BSc Computer Science",
    "MSc Data Science",
    "BA History",
    "MBA",
    "BEng Civil Engineering",
    "Workplace Safety 2026",
    "Anti-Bribery Compliance",
    "Advanced Excel",
    "Fire Warden Training",
]
GRADES = ["First", "Upper Second", "Lower Second", "Distinction", "Merit", "Pass"]


@dataclass(frozen=True)
class Dataset:
    rows: int
    csv_bytes: bytes
    invalid: int
    duplicates: int

    @property
    def valid(self) -> int:
        return self.rows - self.invalid - self.duplicates


def generate(
    rows: int, seed: int = 1, invalid_rate: float = 0.02, duplicate_rate: float = 0.01
) -> Dataset:
    rng = random.Random(f"{seed}:{rows}")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "email", "title", "completion_date", "grade", "student_id", "cohort"])
    produced: list[list[str]] = []
    invalid = duplicates = 0
    for i in range(rows):
        if produced and rng.random() < duplicate_rate:
            writer.writerow(rng.choice(produced))
            duplicates += 1
            continue
        name = (
            rng.choice(NON_LATIN)
            if rng.random() < 0.1
            else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        )
        row = [
            name,
            f"student{i}.{rng.randrange(10**6)}@{rng.choice(DOMAINS)}",
            rng.choice(TITLES),
            f"2026-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}",
            rng.choice(GRADES),
            f"S{seed:02d}{i:08d}",
            f"{rng.choice(['Spring', 'Summer', 'Autumn'])} 2026",
        ]
        if rng.random() < invalid_rate:
            invalid += 1
            broken = rng.randrange(3)
            if broken == 0:
                row[1] = row[1].replace("@", " at ")
            elif broken == 1:
                row[3] = "30/02/2026"
            else:
                row[0] = ""
        else:
            produced.append(row)
        writer.writerow(row)
    return Dataset(rows, out.getvalue().encode(), invalid, duplicates)
