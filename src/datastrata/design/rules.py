"""The selection rules, each tied to the section of the source article it comes from."""

from __future__ import annotations

from dataclasses import dataclass

from datastrata.design.reasons import Evidence, Reason

_PRINCIPLES = "設計戦略選択のための抽象原則"


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: its id, the article section it cites, and what it states."""

    id: str
    article: str
    statement: str

    def because(self, says: str, evidence: tuple[Evidence, ...] | list[Evidence] = ()) -> Reason:
        """A reason produced by this rule from some spec evidence."""
        return Reason(self.id, self.article, says, tuple(evidence))


REQUIREMENTS = Rule(
    "requirements-steps",
    f"{_PRINCIPLES} > 堅固な設計プロセス:要件分析 => 技術選択 => スキーマ設計",
    "Requirements are analysed in four steps: entities, relationships, operations, constraints.",
)
DIAMOND = Rule(
    "diamond-model",
    f"{_PRINCIPLES} > ダイアモンドモデル",
    "Weigh business logic, data characteristics, application pattern and system scale against each other.",
)
CHANGE_FREQUENCY = Rule(
    "change-frequency",
    f"{_PRINCIPLES} > データ変更頻度",
    "High change frequency → event-driven + CQRS; medium → CRUD + cache; low → master data management.",
)
VOLUME = Rule(
    "volume-scale",
    f"{_PRINCIPLES} > データ量スケール",
    "Up to TB → vertical scaling + read replicas; TB to PB → horizontal sharding; beyond PB → distributed + tiering.",
)
CONSISTENCY = Rule(
    "consistency",
    f"{_PRINCIPLES} > 整合性要件",
    "Strong → ACID transactions; eventual → event-driven; session → read/write split.",
)
QUERY_PATTERN = Rule(
    "query-pattern",
    f"{_PRINCIPLES} > クエリパターン",
    "Simple queries → relational; complex analytics → columnar; graph traversal → graph; full text → search engine.",
)
DISASTER_RECOVERY = Rule(
    "disaster-recovery",
    f"{_PRINCIPLES} > 災害復旧; ドメイン特性に基づく選択マトリックス > 詳細選択決定マトリックス",
    "High availability → Multi-AZ; cross-region replication; global tables.",
)
FLOWCHART = Rule(
    "aws-flowchart",
    "ドメイン特性に基づく選択マトリックス > AWSデータベース選択決定フローチャート",
    "Workload type, then consistency, then data model pick the AWS service.",
)
BUDGET = Rule(
    "budget-tier",
    "ドメイン特性に基づく選択マトリックス > AWSデータベース選択決定フローチャート (予算範囲)",
    "< $1000/month → basic; $1000-5000 → standard; > $5000 → enterprise configuration.",
)
READ_CACHE = Rule(
    "read-cache",
    "Uber Eats技術選択分析コンテキスト > 2. レストランとメニュードメイン; AWSデータベース選択決定フローチャート",
    "Reads far above writes → keep the authoritative store and put an in-memory cache in front.",
)
GEO_STREAM = Rule(
    "geo-stream",
    "Uber Eats技術選択分析コンテキスト > 3. 配達員物流ドメイン",
    "Very frequent position updates with nearest-neighbour queries → in-memory geo index"
    " + a stream that buffers updates.",
)
TIME_SERIES = Rule(
    "time-series",
    "TSMC Wafer Factory IoT技術選択分析コンテキスト; 6. データ階層化 > AWS実装1",
    "Time-stamped measurements → time-series store (hot in memory, warm on disk), cold in a data lake queried by SQL.",
)
TIERING = Rule(
    "tiering",
    "6. データ階層化(ホット-コールドデータ分離) > 設計原則 1. 明確なライフサイクルポリシーを定義",
    "Value that decays with age or long retention → hot/warm/cold/frozen tiers moved by a lifecycle policy.",
)
MULTI_TENANCY = Rule(
    "multi-tenancy",
    "4. マルチテナンシーアーキテクチャ > 選択ガイド",
    "Shared (< 1 TB, < $500/month), hybrid dedicated storage (1-100 TB, $500-5000),"
    " dedicated infrastructure (> 100 TB, > $5000).",
)
DATABASE_PER_SERVICE = Rule(
    "database-per-service",
    "7. マイクロサービスデータベースパターン > 1. サービスごとのデータベース",
    "Contexts with different characteristics each own a private store, chosen for their own needs.",
)
SAGA = Rule(
    "saga",
    "7. マイクロサービスデータベースパターン > 3. 最終的整合性を受け入れる; サービス間トランザクションSagaパターン実装",
    "Atomicity across services → a saga with compensating steps, not a distributed ACID transaction.",
)
EVENT_SOURCING = Rule(
    "event-sourcing",
    "2. イベント駆動アーキテクチャ > 正しいテーブル設計アプローチ (TradingEvents)",
    "Audit and history requirements → record immutable events per aggregate stream and rebuild state by replay.",
)
MASTER_DATA = Rule(
    "master-data",
    "1. マスターデータ管理(MDM)戦略 > 単一の真実の源泉(SSoT)",
    "Master data used by many contexts → one authoritative source that the others copy from.",
)
GRAPH = Rule(
    "graph",
    "8. グラフデータベース設計思考; Uber Eats技術選択分析コンテキスト > 4. 検索とレコメンデーションドメイン",
    "'Find a path', 'analyse relations' questions over connected data → graph database.",
)
SHARD_KEY = Rule(
    "shard-key",
    "5. シャーディング戦略 > 3つの重要な設計原則",
    "Pick a high-cohesion shard key, spread load evenly, plan cross-shard (scatter-gather) queries.",
)
ARTIFACTS = Rule(
    "artifact-storage",
    "4. マルチテナンシーアーキテクチャ > モデル1-3 (S3); 6. データ階層化",
    "Large unstructured artifacts (video, files, models) live in object storage, referenced from the metadata store.",
)

ALL_RULES: tuple[Rule, ...] = (
    REQUIREMENTS,
    DIAMOND,
    CHANGE_FREQUENCY,
    VOLUME,
    CONSISTENCY,
    QUERY_PATTERN,
    DISASTER_RECOVERY,
    FLOWCHART,
    BUDGET,
    READ_CACHE,
    GEO_STREAM,
    TIME_SERIES,
    TIERING,
    MULTI_TENANCY,
    DATABASE_PER_SERVICE,
    SAGA,
    EVENT_SOURCING,
    MASTER_DATA,
    GRAPH,
    SHARD_KEY,
    ARTIFACTS,
)
