//! The rule table of the classifier: one row per error *family*, not per
//! literal message.
//!
//! Each rule names a family (Spark, YARN, the JVM, Python, the AWS SDKs,
//! Glue's own "Error Category" and exception-analysis lines, Ray, JDBC,
//! table formats), the failure class it points to, and a weight: how
//! specific the family is for that class. A precise root cause ("Container
//! killed by YARN for exceeding memory limits", 0.95) outweighs a vague one
//! ("Job aborted", 0.32); Glue's coarse error categories sit in between so
//! that a more specific line in the same message wins. Patterns are ASCII
//! case-insensitive and matched by the `regex` crate, whose cost is linear in
//! the input, over text whose whitespace is already collapsed (see `text`).
//!
//! Labelling choices that are not obvious, and why:
//! - a missing Python module or JVM class is `permission_config`: the fix is
//!   the job's configuration (`--additional-python-modules`, `--extra-jars`,
//!   the Glue version, the job type), not its code; a name that cannot be
//!   imported *from* a module that exists is `code_bug`;
//! - a lost executor or a dead Ray node is `transient_infra` (as DESIGN
//!   lists it) unless the text carries memory evidence: an OOM, "killed by
//!   YARN for exceeding memory", memoryOverhead, exit code 137/143 or a
//!   SIGTERM/SIGKILL, which outweigh it and make it `resource_exhaustion`; so
//!   are a crashed worker process, a heartbeat timeout (GC stalls) and a
//!   bare "Job aborted" with no nested cause, which on Glue are the
//!   symptoms of memory pressure far more often than of hardware loss;
//! - Glue Data Catalog definition problems (table not found, a table without
//!   an input format) and VPC/security-group setup are `permission_config`;
//! - a JDBC connection that never got a packet through is `permission_config`
//!   (security groups, routes), a connection that was reset, closed or went
//!   silent after packets had flowed is `transient_infra`;
//! - a host name that does not resolve is `transient_infra` (DNS), unless
//!   the name itself is malformed ("null", a placeholder, an empty region),
//!   which is `permission_config`;
//! - a timeout raised by a client of another service (Kafka, an AWS SDK call)
//!   is `transient_infra`; `timeout` is the job run (or its own futures and
//!   broadcasts) running out of time;
//! - a stream, shard or topic that does not exist, or whose data aged out of
//!   retention, is `source_unavailable`; a catalog table, connection or
//!   secret that does not exist is `permission_config` (the job's definition);
//! - a Python dependency that does not install or load (wheels, resolver
//!   conflicts, a binary built for another NumPy) is `permission_config`,
//!   like a missing module;
//! - (round 1, engines beyond Glue) a runtime that does not match the job
//!   (Java class version, Scala binary, PySpark driver/worker Python, py4j
//!   gateway, a missing JAVA_HOME or HADOOP_CONF_DIR, a library that fails to
//!   install on the cluster) is `permission_config`: the fix is the job's
//!   environment, not its code;
//! - authentication and TLS setup (Kerberos, SASL, a missing auth token, a
//!   trust store without the CA, privileges a catalog grants) is
//!   `permission_config`; a database table, view, schema or workgroup that a
//!   query names and that does not exist is `permission_config` (the job's
//!   definition) unless catalog evidence shows the table exists, which makes
//!   it a visibility (permission) problem all the more;
//! - a query an engine rejects as written (syntax, arity, GROUP BY rules,
//!   ambiguous columns, an invalid pattern, API parameter validation) is
//!   `code_bug`, whatever the engine (Athena, Redshift, MySQL, SQL Server,
//!   Oracle, Teradata); an identifier the engine cannot resolve because a
//!   column was renamed or dropped (`invalid identifier`, `Unknown column`)
//!   is `schema_drift`;
//! - deadlocks, serialization failures, lock waits and consumer-group
//!   rebalances are `transient_infra` (the engine itself says to retry), and
//!   so are partition-leader changes, lost Ray objects, expired stream
//!   iterators and a NameNode in safe mode;
//! - a limit on connections, sessions, open files, open writers, prepared
//!   statements or a quota is `resource_exhaustion`; a limit on the request
//!   *rate* (throttling) stays `transient_infra`;
//! - a value that does not fit its column or type (too long, out of range,
//!   an impossible date, NaN into an integer, a duplicate key) is
//!   `data_quality`; a file or table whose declared column types disagree
//!   with the data's (Parquet/ORC/Avro against the catalog, a CSV header
//!   against the schema, a column count) is `schema_drift`;
//! - a time limit of the work itself (a task, statement, notebook cell, pod
//!   deadline, workflow step) is `timeout`; a client's own network timeout
//!   stays `transient_infra`.

use crate::core::model::FailureClass;
use crate::core::model::FailureClass::{
    CodeBug, DataQuality, PermissionConfig, ResourceExhaustion, SchemaDrift, SourceUnavailable, Timeout, TransientInfra,
};

/// One classifier rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Stable name, quoted in signals and audit records.
    pub name: &'static str,
    pub class: FailureClass,
    /// Specificity of the family for the class, 0..1.
    pub weight: f64,
    /// ASCII case-insensitive regular expression.
    pub pattern: &'static str,
    /// ASCII case-insensitive regular expression, or empty: when it matches
    /// the same piece of evidence, the rule does not fire there. It keeps a
    /// generic family (a wrapper, a bare exception class) from speaking when
    /// the text shows that something else explains it.
    pub unless: &'static str,
}

const fn rule(name: &'static str, class: FailureClass, weight: f64, pattern: &'static str) -> Rule {
    Rule { name, class, weight, pattern, unless: "" }
}

const fn rule_unless(
    name: &'static str,
    class: FailureClass,
    weight: f64,
    pattern: &'static str,
    unless: &'static str,
) -> Rule {
    Rule { name, class, weight, pattern, unless }
}

/// A py4j call into the Glue library (a DynamicFrame read or write): a bare
/// JVM runtime exception raised there, with no user frame, says nothing about
/// the job's own code.
const GLUE_LIBRARY_CALL: &str =
    r"while calling (o\d+\.)?(pywritedynamicframe\w*|getdynamicframe|get(catalog)?(source|sink)\w*|fromdf|todf)\b";

/// A Spark stage failure that names the exception of its last attempt: the
/// wrapper is then no evidence of its own; the nested exception decides.
const NESTED_TASK_FAILURE: &str =
    r"most recent failure: lost task \S+ in stage \S+ (\([^)]{0,200}\) ?){1,2}: ?[\w.$]*(exception|error|failure)\b";

/// A stream that ends early while a file is read is a truncated file (data),
/// not a connection that went away.
const FILE_READ_CONTEXT: &str = r"parquet|\borc\b|avro|gzip|compress|\.(gz|snappy|zst|bz2|lz4)\b|end of (input )?stream|sequencefile|hadoop\.io\.|datainputstream|readfully";

/// Memory evidence next to a lost executor or node: the loss is then the
/// symptom of memory pressure (`resource_exhaustion`), not a transient fault.
const MEMORY_EVIDENCE: &str = r"exceeding (physical |virtual )?memory|memoryoverhead|out[ _-]?of[ _-]?memory|java heap space|gc overhead|heartbeat timed out|exit (code|status)( is)?[:= ]*(137|143|-104)\b|killed by (external )?signal (9|15)\b|\boom\b|oom[ -]?kill|error category:\s*out_of_memory_error";

/// A host name that cannot be right: "null"/"none" (an unset variable or
/// region), a placeholder left in, an empty label or name. Its lookup failing
/// is configuration, not DNS weather.
const MALFORMED_HOST: &str = r#"unknownhostexception: ?(null|none|undefined)\b|unknownhostexception: ?[^\s:;]*(\.(null|none|undefined)\.|[{}$<>]|\.\.|_\S*\.amazonaws)|unknownhostexception: ?($|[:;,)])|could not translate host name "(null|none|undefined)?"|\.(null|none|undefined)\.amazonaws\.com|://(null|none|undefined)[:/]"#;

/// A JDBC link that had carried packets before it failed: it dropped, it did
/// not fail to connect (MySQL Connector/J's "last packet successfully
/// received ... N ms ago", N > 0).
const JDBC_LINK_WAS_LIVE: &str =
    r"last packet successfully received from the server was [1-9][\d,]* (milliseconds|ms|seconds) ago";

/// A timeout raised by a client of another service (a Kafka consumer or
/// admin client, the AWS SDK's per-call timeouts, a Cassandra or Netty
/// read): the broker or endpoint was slow to answer, a transient fault, not
/// the job run exceeding its own limit.
const CLIENT_TIMEOUT: &str = r"kafka\.common\.errors\.timeoutexception|kafka\S*: ?timeout(exception)?\b|timeout of \d+ ?ms expired|timed out waiting for (a )?(node assignment|metadata|a response|response|coordinator|the broker)|apicall(attempt)?timeoutexception|operationtimedoutexception|(cassandra|datastax)\S*(read|write)timeoutexception|netty\S*readtimeoutexception";

/// Evidence that a call failed on its way (throttled, refused, timed out,
/// never dispatched) rather than being refused by the authorizer.
const TRANSIENT_CALL_FAILURE: &str = r"throttl|rate exceeded|too many requests|dispatch ?failure|\bio ?error\b|timed? ?out\b|connection (reset|refused|closed)|service ?unavailable|internal ?(server|service) ?error|status code: 5\d\d";

/// A JDBC driver failing while it opens a connection: the endpoint could not
/// be reached at all (security groups, routes, a wrong host), which is
/// configuration even when the socket reports a timeout.
const JDBC_CONNECT_PHASE: &str = r"error (setting|opening|establishing)(/closing)? (up )?(the )?connection|network adapter could not establish|the connection attempt failed|tcp/ip connection to the host .{0,80}has failed|last packet sent successfully to the server was 0 milliseconds ago|client\.connect\((unknown source|\w+\.java)";

/// A streaming source (Kinesis stream or shard, Kafka topic, DynamoDB
/// stream) that does not exist.
const STREAM_MISSING: &str = r"kinesis\S*resourcenotfoundexception|resourcenotfoundexception: (stream|shard)\b|stream \[?[\w.:/-]+\]? (under account \S+ )?(was )?(not found|does not exist)|shard \[?[\w.:/-]+\]? (under account \S+ )?(was )?(not found|does not exist)|unknowntopicorpartition|unknown_topic_or_partition|topic \S+ (does not exist|not found)|unknown topic";

/// Every rule, grouped by class. Order only matters for reading.
pub const CLASSIFIER_RULES: &[Rule] = &[
    // ---- resource_exhaustion -------------------------------------------
    rule(
        "yarn_container_memory",
        ResourceExhaustion,
        0.95,
        r"container killed by yarn for exceeding memory|running beyond (physical|virtual) memory|exceeding (physical |virtual )?memory limits|memoryoverhead",
    ),
    rule(
        "out_of_memory",
        ResourceExhaustion,
        0.92,
        r"out[ _-]?of[ _-]?memory|java heap space|gc overhead limit exceeded|requested array size exceeds vm limit|unable to create (a )?new native thread|direct buffer memory|metaspace|cannot allocate memory|\bmemoryerror\b|oom[ -]?kill|killed by the oom|objectstorefullerror|object store is full",
    ),
    rule(
        "disk_full",
        ResourceExhaustion,
        0.92,
        r"no space left on device|disk[ _]no[ _]space|disk quota exceeded|disk is full|not enough (disk|local) space|insufficient disk",
    ),
    rule(
        "driver_or_broadcast_size",
        ResourceExhaustion,
        0.85,
        r"bigger than spark\.driver\.maxresultsize|too large frame|size exceeds integer\.max_value|cannot broadcast the table that is larger than|not enough memory to build and broadcast",
    ),
    rule(
        "killed_exit_code",
        ResourceExhaustion,
        0.7,
        r"exit (code|status)( is)?[:= ]*(137|143|-104)\b|exitcode[:= ]*(137|143|-104)\b|killed by (external )?signal (9|15)\b",
    ),
    rule("executor_sigterm", ResourceExhaustion, 0.65, r"received signal (term|kill)|\bsigterm\b|\bsigkill\b"),
    rule(
        "worker_crashed",
        ResourceExhaustion,
        0.64,
        r"executor heartbeat timed out|worker (has )?died|workercrashederror|the worker died unexpectedly|sparkcontext (was|has been) shut ?down|answer from java side is empty",
    ),
    rule(
        "concurrency_or_quota_limit",
        ResourceExhaustion,
        0.88,
        r"concurrentrunsexceeded|max(imum)? concurrent runs|resourcenumberlimitexceeded|exceeds the account limit|service quota|quota (has been )?exceeded|max(imum)? concurrent compute|dpu (usage|limit)|maximum number of workers",
    ),
    rule(
        "subnet_ip_exhausted",
        ResourceExhaustion,
        0.88,
        r"(not have|not enough|insufficient|no) (enough )?free (ip )?addresses|insufficientfreeaddresses|(number of|no|not enough|insufficient) (free |available )?ip addresses (on|in|for) (the )?subnet( \S+)? is 0\b|(number of|no|not enough|insufficient) (free |available )?ip addresses (left |remaining )?(on|in) (the )?subnet|subnet \S+ (has )?(no|0|insufficient) (free |available )?ip|run(s)? out of (elastic )?network interfaces|network ?interfaces? .{0,30}limit",
    ),
    rule(
        "capacity_unavailable",
        ResourceExhaustion,
        0.85,
        r"insufficient capacity|insufficientcapacity|not enough capacity|(ran|run) out of (resources|capacity)",
    ),
    // A managed Spark pool or workspace at its compute limit: the job cannot
    // run until capacity frees up or is raised (HTTP 430 and friends).
    rule(
        "compute_capacity_limit",
        ResourceExhaustion,
        0.9,
        r"toomanyrequestsforcapacity|too many requests for capacity|(larger|bigger|higher) capacity (sku|tier|unit|size)|hit a (spark )?(compute|capacity) (or api )?(rate )?limit|compute (limit|quota) (has been )?(reached|exceeded|hit)|capacity (limit|quota) (has been )?(reached|exceeded|hit)|http status code: 430\b",
    ),
    rule("resource_unavailable", ResourceExhaustion, 0.6, r"resource unavailable"),
    rule_unless(
        "spark_job_aborted",
        ResourceExhaustion,
        0.32,
        r"job aborted|stage failure|task \S+ in stage \S+ failed \d+ times|lost task",
        NESTED_TASK_FAILURE,
    ),
    rule(
        "glue_command_exit",
        ResourceExhaustion,
        0.3,
        r"command failed with exit code|application exited with (status|code) 1\b",
    ),
    rule(
        "glue_category_memory",
        ResourceExhaustion,
        0.6,
        r"error category:\s*(out_of_memory_error|disk_no_space_error)",
    ),
    // ---- transient_infra -----------------------------------------------
    rule(
        "node_lost",
        TransientInfra,
        0.7,
        r"released on a \*?lost\*? node|exit status: -100\b|node (was )?(lost|decommissioned)|spot (instance )?interruption",
    ),
    rule_unless(
        "executor_lost",
        TransientInfra,
        0.6,
        r"executorlostfailure|remote rpc client disassociated|missing an output location for shuffle|lost executor \d+|(slave|worker|executor) lost\b|actordiederror|nodediederror|node .{0,60}\b(has )?(died|crashed)|raylet .{0,40}(died|crashed)",
        MEMORY_EVIDENCE,
    ),
    rule(
        "throttling",
        TransientInfra,
        0.88,
        r"throttl|rate exceeded|too many requests|\b429\b|\bslowdown\b|please slow down|reduce your request rate|requestlimitexceeded|provisionedthroughputexceeded|exceeds? max retr|request rate is too large",
    ),
    rule(
        "service_unavailable",
        TransientInfra,
        0.78,
        r"service ?unavailable|\b503\b|internal ?server ?error|internal[ _]?service[ _]?(error|exception)|we encountered an internal error|an internal error occurred|please retry|internalfailure|status code: 5\d\d|try again later|temporarily unavailable|service is (currently )?unavailable",
    ),
    rule("client_call_timeout", TransientInfra, 0.84, CLIENT_TIMEOUT),
    rule(
        "broker_metadata_timeout",
        TransientInfra,
        0.85,
        r"not present in metadata after|failed to update metadata after",
    ),
    rule(
        "s3_request_timeout",
        TransientInfra,
        0.8,
        r"requesttimeout|socket connection to the server was not read from or written to",
    ),
    rule_unless(
        "network_interrupted",
        TransientInfra,
        0.72,
        r"connection reset|broken pipe|read timed out|sockettimeoutexception|connect(ion)? timed out|nohttpresponseexception|failed to respond|unable to execute http request|remote host terminated the handshake|premature end of content-length|connection (was )?(closed|aborted) (by peer|unexpectedly)|timeout waiting for connection from pool|temporary failure in name resolution|sslexception|readtimeouterror|connecttimeouterror|connectionclosederror|dispatch ?failure",
        JDBC_CONNECT_PHASE,
    ),
    rule(
        "db_connection_dropped",
        TransientInfra,
        0.78,
        r"(this|the) connection (has been|is|was) closed|server closed the connection unexpectedly|an i/o error occurred while|no operations allowed after connection closed|lost connection to (the )?(mysql )?server|(mysql )?server has gone away|no more data to read from socket|end-of-file on communication channel|ora-031(13|35)|terminating connection due to administrator command|ssl syscall error: eof detected|connection (is )?no longer (valid|usable|available)|connection (was )?forcibly closed|sqltransientconnectionexception",
    ),
    rule_unless("eof_on_connection", TransientInfra, 0.7, r"\beofexception\b", FILE_READ_CONTEXT),
    rule("jdbc_link_dropped", TransientInfra, 0.86, JDBC_LINK_WAS_LIVE),
    rule_unless(
        "dns_resolution_failed",
        TransientInfra,
        0.7,
        r"unknownhostexception|name or service not known|nodename nor servname|could not translate host name|no address associated with hostname|name does not resolve|getaddrinfo failed|dns (resolution|lookup) failed",
        MALFORMED_HOST,
    ),
    rule_unless(
        "cluster_peer_unreachable",
        TransientInfra,
        0.65,
        r"failed to connect to [\w./-]+:\d+|connection refused|connection .{0,80} refused|fetchfailed|failed to send rpc|rpctimeoutexception|cannot receive any reply|java\.net\.connectexception",
        JDBC_CONNECT_PHASE,
    ),
    rule(
        "concurrent_modification",
        TransientInfra,
        0.62,
        r"concurrentmodificationexception|commitfailedexception|cannot commit .{0,80}because base metadata location|deadlock|lock wait timeout|could not serialize access|transactionconflict|version mismatch",
    ),
    rule(
        "table_commit_conflict",
        TransientInfra,
        0.8,
        r"concurrent(append|deleteread|deletedelete|transaction|write)exception|(protocol|metadata)changedexception|hoodiewriteconflictexception|writeconflictexception|(changed|modified|deleted|added|updated) .{0,60}by a concurrent (update|transaction|write|commit|operation)|conflicting commit|concurrent (commit|write)s? conflict|commit conflict|cannot resolve conflicts for overlapping writes|commitfailedexception: commit failed|branch \S+ has changed|please try the operation again",
    ),
    rule(
        "glue_category_transient",
        TransientInfra,
        0.55,
        r"error category:\s*(throttling_error|connection_error|glue_internal_service_error|glue_operation_timeout_error|glue_job_bookmark_version_mismatch_error)",
    ),
    // ---- schema_drift --------------------------------------------------
    rule(
        "unresolved_column",
        SchemaDrift,
        0.85,
        r"cannot resolve .{0,100}given input columns|unresolved_column|missing_column|column_not_found|field_not_found|unresolved_field|cannot be resolved\. did you mean|column .{0,80}(does not exist|not found|cannot be resolved)|no such struct field|cannot resolve column|field .{0,80} does not exist|cannot find (field|column)|not found in (the )?(source |target |log |file |table |reader |writer |data |avro |parquet )?schema",
    ),
    rule(
        "schema_mismatch",
        SchemaDrift,
        0.88,
        r"schema mismatch|failed to merge schema|type changed from|schema (is )?not compatible|incompatible schema|not compatible with the table|schemacompatibilityexception|failed to merge (fields|incompatible)|cannot write incompatible data|delta_failed_to_merge|schema of (your|the) .{0,40}table has changed|unsupported schema (change|evolution)|cannot evolve schema|column count mismatch|number of columns (doesn't|does not|do not) match|incompatible_data_for_table|partition_schema_mismatch|avrotypeexception|type mismatch between|cannot_merge_schemas|failed merging schemas|cannot_merge_incompatible_data_type|differing column (data )?types|column (data )?types? (differ|do not match|don't match|mismatch)|(unmatched|mismatched) number of columns|number of columns[\w ]* (should|must) match|number of jsonpaths and the number of columns|possible loss of precision for (target )?(table|column)|would need to be cast to|incompatible_data_to_table|schema compatibility check|validate(insert|upsert)?schema|schema (is )?incompatible with",
    ),
    rule(
        "parquet_type_conversion",
        SchemaDrift,
        0.9,
        r"parquet column cannot be converted|parquetdecodingexception|can ?not read value at \d+ in block|unsupported type conversion|in parquet is incompatible with type|unable to convert type|expected \w+, got \w+ for (field|column)|plain\w*dictionary|schemacolumnconvertnotsupportedexception|expected: \w+(\(\d+(, ?\d+)?\))?, found: \w+|column: \[[^\]]+\],? expected:? [\w<>(), ]+?,? found:? \w+|column .{0,60}cannot be converted|cannot up ?cast|cannot_up_cast|cannot safely cast",
    ),
    rule(
        "table_format_schema_merge",
        SchemaDrift,
        0.82,
        r"failed to merge old record into new file|hoodieschemaexception|schemaevolutionconflictexception|writer ?schema .{0,60}(incompatible|not compatible|mismatch)|expecting union",
    ),
    rule("duplicate_column", SchemaDrift, 0.85, r"duplicate column"),
    rule(
        "columnar_cast_mismatch",
        SchemaDrift,
        0.7,
        r"mutable\w+ cannot be cast|cannot be cast to \S*mutable|parquet.{0,100}cannot be cast|cannot be cast to \S*parquet",
    ),
    rule(
        "nested_type_changed",
        SchemaDrift,
        0.75,
        r"can't extract value from .{0,120}need (struct|array|map) type|not enough data columns|too many data columns|partition column .{0,80} not found in schema",
    ),
    // Spark's AnalysisException covers schema, catalog, path and plan errors
    // alike: alone it is below `opinion::MIN_RULE_SCORE`, it only adds its
    // agreement to a schema family that fired on the same text.
    rule("analysis_exception", SchemaDrift, 0.2, r"analysisexception"),
    // ---- data_quality --------------------------------------------------
    rule(
        "malformed_records",
        DataQuality,
        0.9,
        r"malformed (record|row|line|csv|json|input|data)|malformed_record|badrecordexception|bad records? found|failfast|_corrupt_record|\bcorrupt(ed)?\b|magic number|not (in )?(a )?gzip format|unexpected end of (zlib|input stream|file)|invalid (stored )?block lengths|crc check failed|checksum (error|mismatch)|not a parquet file|reached the end of stream with \d+ bytes left|unable to parse file|could not parse|cannot parse|failed to parse (value|record|row|date|field|json|csv|line)|jsonparseexception|json ?decode ?error|expecting value: line|error parsing (csv|json|record|row|line|field)|unbalanced quote|unexpected character|unrecognized token|unterminated quoted|textparsingexception|invalid (json|csv|utf-?8)|unicodedecodeerror|malformedinputexception|charconversionexception|invalid byte sequence|input length = 1",
    ),
    rule(
        "cast_or_parse_failure",
        DataQuality,
        0.82,
        r"numberformatexception|for input string|is not a valid external type for schema|could not convert string to|invalid literal for int\(\)|cast_invalid_input|invalid input syntax|unparseable (date|number)|datetimeparseexception|cannot be parsed|arithmeticexception|arithmetic overflow|numeric_value_out_of_range|value out of range|out of range for|(\[|error class:? )divide_by_zero|data truncation|would be truncated|value too long for|invalid (date|timestamp|datetime|number|numeric|decimal)\b|arrowinvalid|could not convert '|cannot cast '[^']{0,200}' to|decimal precision \d+ exceeds max(imum)? precision|cannot be represented as decimal|numeric field overflow|given value of type \S+ from the data source cannot be converted|cannot be converted to type \S+ of the specified target column|received an invalid column length from the bcp client|value too large for column|ora-12899|string or binary data would be truncated",
    ),
    rule(
        "warehouse_load_rejected",
        DataQuality,
        0.86,
        r"load into table .{0,200} failed|stl_load_errors|sys_load_error_detail|while loading data into redshift|exceeds ddl length|invalid digit, value|delimiter not found|extra column\(s\) found|missing data for not-null field|data too long for column|incorrect (integer|decimal|double|date|datetime|time|timestamp) value: '|out of range value for column|numeric value '[^']{0,100}' is not recognized|user character length limit",
    ),
    rule(
        "null_in_required_field",
        DataQuality,
        0.85,
        r"can ?not be null|cannot insert (the value )?null|must not be null|null value in column|violates not-null|not null constraint|non-nullable|null_in_non_nullable|not_null_assert|non-?null (column|field)|nullable values to|null[- ]value for (a )?(required|non-?nullable) field|null of \w+ in field|hoodiekeyexception|cannot be entirely null|(has to|must) be non-?null",
    ),
    rule(
        "data_quality_rule_failed",
        DataQuality,
        0.9,
        r"data quality (check|rule|evaluation|ruleset)s? (has |have )?failed|\d+ rules? failed|rows? failed (the )?rule|failed (the )?data quality|dq (check|rule)s? failed",
    ),
    rule(
        "duplicate_keys",
        DataQuality,
        0.7,
        r"duplicate (key|entry|record)s?\b|unique constraint|violation of primary key",
    ),
    // ---- source_unavailable --------------------------------------------
    rule_unless(
        "input_path_missing",
        SourceUnavailable,
        0.88,
        r"path does not exist|file does not exist|path_not_found|no such file or directory|filenotfoundexception|no new files|no files (were )?(found|matched|to process)|s3[an]?://\S+ does not exist|matches 0 files|found no files|skipping partition",
        r"too many open files",
    ),
    rule(
        "upstream_not_landed",
        SourceUnavailable,
        0.88,
        r"has not (yet )?(landed|arrived)|not (yet )?landed|_success marker|upstream .{0,60}not (yet )?(available|ready|complete)",
    ),
    rule(
        "partition_missing",
        SourceUnavailable,
        0.93,
        r"partition not found|partition does not exist|no partitions? (found|matched)|partition .{0,80}(not (yet )?available|has not landed)",
    ),
    rule(
        "empty_input",
        SourceUnavailable,
        0.82,
        r"unable to infer schema|(input|path|prefix|location|folder|directory) \S+ is empty|input (data ?set|path|directory|data) is empty|no data (found|available)|empty (input|dataset|directory|source)|dataframe is empty|0 records (read|found)|0 rows (read|found)|0 files (read|found)",
    ),
    rule(
        "object_missing",
        SourceUnavailable,
        0.72,
        r"nosuchkey|the specified key does not exist|\(404\)|status code: 404|404 not found",
    ),
    rule(
        "archived_storage_class",
        SourceUnavailable,
        0.95,
        r"storage class|invalidobjectstate|object is (archived|in glacier)|glacier|deep_archive|restore the object",
    ),
    // The stream, shard or topic a streaming job reads does not exist (any
    // more): the upstream source is missing, unlike a catalog table or a
    // secret that the job's definition names (`referenced_resource_missing`).
    rule("stream_source_missing", SourceUnavailable, 0.85, STREAM_MISSING),
    rule(
        "stream_data_aged_out",
        SourceUnavailable,
        0.88,
        r"cannot fetch offset|failondataloss|some data may have been lost|offsetoutofrange|offsets? (are |is )?out of range|trimmeddataaccessexception|(aged|expired) out by (kafka|the broker|retention)|not available in (kafka|the stream) any ?more",
    ),
    rule("glue_category_not_found", SourceUnavailable, 0.45, r"error category:\s*resource_not_found_error"),
    // ---- permission_config ---------------------------------------------
    rule(
        "access_denied",
        PermissionConfig,
        0.92,
        r"access ?denied|not authorized to (perform|access)|authorizationexception|is not authorized|unauthorized|\bforbidden\b|\(403\)|status code: 403|error code: 403|\b401\b|insufficient (lake formation )?permission|permissions? denied|not have (the )?(required |necessary )?permission|missing permission|\bkms\b|kmsexception|invalidaccesskeyid|signaturedoesnotmatch|expiredtoken|(token|credentials?|password) (has |have |is |are )?(been )?expired|expired (token|credentials?)|security token included in the request is (invalid|expired)|access key id .{0,40}does not exist|lake ?formation|must be authenticated|not authenticated|authentication (failed|required|error)|password authentication failed|login failed|invalid (username|password|credentials)|unable to locate credentials|nocredentialserror|unable to load (aws )?credentials|iam:passrole",
    ),
    // A role that cannot be assumed is configuration, unless the STS call
    // itself was throttled or never got through (the same words then wrap a
    // transient failure, which its own rule reports).
    rule_unless(
        "role_not_assumable",
        PermissionConfig,
        0.9,
        r"assume ?role|cannot be assumed|unable to assume",
        TRANSIENT_CALL_FAILURE,
    ),
    rule(
        "missing_job_argument",
        PermissionConfig,
        0.9,
        r"glueargumenterror|the following arguments are required|missing (required )?(job )?(argument|parameter)s?\b|unrecognized arguments|keyerror: '--|argument .{0,60}(is (required|not set|missing)|not (set|provided))|parameter .{0,60}(is (required|not set|missing)|not (set|provided))|option .{0,60}(is (required|not set|missing)|not (set|provided))|missing required option|can ?not create a path from (an empty|a null) string|missing value for (--|argument|parameter|option)|argument --\w+ (is required|not found|missing)",
    ),
    rule(
        "network_setup",
        PermissionConfig,
        0.88,
        r"security group|ingress|egress|nat gateway|s3 endpoint|vpc endpoint|could not find subnet|describevpcendpoints|describeroutetables|describesubnets|describesecuritygroups|no private dns|enablednshostnames|no route to host",
    ),
    rule("host_misconfigured", PermissionConfig, 0.9, MALFORMED_HOST),
    rule(
        "catalog_or_resource_definition",
        PermissionConfig,
        0.92,
        r"inputformat cannot be null|storage ?descriptor|entity ?not ?found|no such (table|database)|entitynotfoundexception|database .{0,80}not found|table .{0,80}not found|table_or_view_not_found|schema_not_found|nosuchtableexception|nosuchdatabaseexception|unable to fetch table|could not find (the )?connection|connection \S{1,120} (does not exist|not found)|nosuchbucket|specified bucket does not exist|alreadyexists|already exists",
    ),
    rule(
        "s3_bad_request",
        PermissionConfig,
        0.78,
        r"awsbadrequestexception|bad request \(service: amazon s3|service: (amazon )?s3; status code: 400; error code: (400 bad request|invalidrequest|invalidargument|authorizationheadermalformed|invalidbucketname|illegallocationconstraintexception|invalidtoken)",
    ),
    rule(
        "table_format_not_configured",
        PermissionConfig,
        0.82,
        r"cannot be cast to (class )?org\.apache\.(spark\.sql\.delta|iceberg|hudi)\.|deltasparksessionextension|requires the sparksession to be configured|--datalake-formats",
    ),
    rule("path_not_a_uri", PermissionConfig, 0.93, r"does not exist: hdfs:/(/[^/\s]*)?/user/"),
    rule(
        "missing_module_or_driver",
        PermissionConfig,
        0.85,
        r"no module named|no filesystem for scheme|wrong fs:|modulenotfounderror|classnotfoundexception|noclassdeffounderror|failed to find data source|no suitable driver|(could not|failed to) load (jdbc )?driver|could not find a version that satisfies the requirement|no matching distribution found",
    ),
    // Installing or loading the job's Python dependencies failed (a wheel
    // that does not build, a resolver conflict, a binary built against
    // another NumPy): the fix is `--additional-python-modules` or the Glue
    // version, as for a missing module.
    rule(
        "python_dependency_setup",
        PermissionConfig,
        0.85,
        r"could not build wheels|failed building wheel|failed to build \S+|subprocess-exited-with-error|(could not|cannot|failed to) install (packages|requirements|dependencies)|resolutionimpossible|conflicting dependencies|pip install( of)? \S+ failed|multiarray failed to import|compiled using numpy \S+ cannot be run|numpy\.dtype size changed|undefined symbol: \w|dll load failed",
    ),
    rule("native_library_missing", PermissionConfig, 0.95, r"cannot open shared object file|importerror: lib\S*\.so"),
    rule(
        "job_definition",
        PermissionConfig,
        0.85,
        r"script location|unsupported worker type|worker type .{0,40}(not supported|unsupported)|unsupported (glue|python|spark) version|not supported (in|on|by|with) (this )?(glue|version)|jobdefinitionerror|deprecated and no longer supported|no longer supported|could not find command|invalid command name",
    ),
    rule(
        "job_script_missing",
        PermissionConfig,
        0.93,
        r"(error|failed) (while )?download(ing)? (the )?script|script (file )?\S{0,200} (does not exist|not found)|no such script",
    ),
    rule_unless(
        "referenced_resource_missing",
        PermissionConfig,
        0.75,
        r"resourcenotfoundexception|can't find the specified secret|secret .{0,60}not found",
        STREAM_MISSING,
    ),
    rule(
        "glue_data_quality_setup",
        PermissionConfig,
        0.9,
        r"awsgluedq|input columns: \[primary\.|evaluatedataquality.{0,80}(not supported|unsupported|not found)",
    ),
    rule_unless(
        "jdbc_never_connected",
        PermissionConfig,
        0.75,
        r"communications link failure|the connection attempt failed|error (setting|opening|establishing)(/closing)? (up )?(the )?connection|network adapter could not establish the connection|tcp/ip connection to the host .{0,80}has failed|last packet sent successfully to the server was 0 milliseconds ago|pg_hba\.conf|ora-01017|ora-12505|ora-12514|unknown database|invalid catalog name",
        JDBC_LINK_WAS_LIVE,
    ),
    rule(
        "service_endpoint_unreachable",
        PermissionConfig,
        0.8,
        r"amazonaws\.com\S* (\[[^\]]*\] )?failed: connect timed out|connection to [\w.-]+\.amazonaws\.com timed out|connect timeout on endpoint url|could not connect to the endpoint url|endpointconnectionerror",
    ),
    rule(
        "invalid_configuration",
        PermissionConfig,
        0.5,
        r"illegalargumentexception: .{0,80}\b(option|argument|parameter|config(uration)?|propert(y|ies)|setting|must be (set|specified|provided|one of)|is required|not (set|specified|provided)|url|uri|endpoint|region)\b|illegal character in (path|scheme|authority|query)|urisyntaxexception|invalidinputexception|validationexception|invalid (configuration|parameter|value for parameter)",
    ),
    rule(
        "glue_category_config",
        PermissionConfig,
        0.6,
        r"error category:\s*(permission_error|invalid_argument_error|import_error|glue_validation_error|resources_already_exists_error|launch_error|lakeformation_error|unsupported_operation_error)",
    ),
    // ---- code_bug ------------------------------------------------------
    // A Java parser's `syntaxError(...)` callback in a stack frame is not a
    // Python SyntaxError in the script.
    rule_unless(
        "python_syntax",
        CodeBug,
        0.92,
        r"syntaxerror|indentationerror|taberror|invalid syntax|missing parentheses in call to|unexpected indent|unindent does not match",
        r"\.syntaxerror\((unknown source|\w+\.java)",
    ),
    rule(
        "python_runtime_bug",
        CodeBug,
        0.8,
        r"nameerror|is not defined|typeerror|attributeerror|object has no attribute|unboundlocalerror|takes \d+ positional arguments?|unexpected keyword argument|missing \d+ required positional|not subscriptable|is not callable|is not iterable|unsupported operand|cannot import name|zerodivisionerror|recursionerror|notimplementederror|assertionerror|indexerror|list index out of range",
    ),
    rule("expression_type_mismatch", CodeBug, 0.6, r"datatype_mismatch|data type mismatch"),
    rule(
        "ambiguous_or_bad_cast",
        CodeBug,
        0.55,
        r"ambiguous reference|ambiguous_reference|reference .{0,80} is ambiguous|classcastexception|cannot be cast to",
    ),
    rule("python_key_or_value_error", CodeBug, 0.55, r"\bkeyerror\b|\bvalueerror\b"),
    rule(
        "jvm_linkage",
        CodeBug,
        0.8,
        r"nosuchmethoderror|py4jexception: method .{0,80}does not exist|nosuchfielderror|abstractmethoderror|incompatibleclasschangeerror|unsupportedclassversionerror|scala\.matcherror|scalareflectionexception|\w\([\[\w/$;]*\)\[*ljava/[\w$/]+;|\w\([\[\w/$;]*\)\[*lscala/[\w$/]+;|\w\(\[*ljava/[\w$/]+;|\w\(\[*lscala/[\w$/]+;",
    ),
    rule_unless(
        "jvm_runtime_bug",
        CodeBug,
        0.5,
        r"nullpointerexception|illegalstateexception|stackoverflowerror|arrayindexoutofboundsexception|indexoutofboundsexception|unsupportedoperationexception",
        GLUE_LIBRARY_CALL,
    ),
    rule(
        "sql_syntax",
        CodeBug,
        0.85,
        r"mismatched input|extraneous input|no viable alternative|parse_syntax_error|syntax error at or near|undefined function|unresolved_routine",
    ),
    rule(
        "spark_plan_misuse",
        CodeBug,
        0.72,
        r"implicit cartesian product|join condition is missing or trivial|is not an aggregate function|neither present in the group by|grouping expressions sequence is empty|missing_aggregation|missing_group_by|not allowed to use a window function|window function .{0,60}not (allowed|supported)|queries with streaming sources must be executed|nondeterministic expressions? .{0,80}only allowed|aggregate functions? (is|are) not allowed|nested_aggregate_function|inside (of )?another aggregate function|unsupported_generator|unsupported_subquery_expression|cannot overwrite (a path|table .{0,80}) that is also being read from|resolved attribute\(s\) \S|resolved_attribute_(appear_in_operation|missing_from_input)|(doesn't|does not) implement any udf interface|no_handler_for_ud\w+|no handler for (udf|udaf|udtf)|cannot_load_function_class|invalid_udf_implementation",
    ),
    rule(
        "closure_serialization",
        CodeBug,
        0.85,
        r"picklingerror|could not serialize object|can't pickle|cannot pickle|spark-5063|reference sparkcontext from a broadcast variable|task not serializable|notserializableexception",
    ),
    rule("glue_category_code", CodeBug, 0.6, r"error category:\s*(syntax_error|compilation_error|query_error)"),
    rule("python_traceback", CodeBug, 0.26, r"traceback \(most recent call last\)"),
    // ---- families of the round-1 public dev corpus (beyond Glue) -------
    // Engines and services other than Glue: Athena/Trino/Presto, Redshift,
    // Snowflake, Firehose, DynamoDB, Kafka, Ray, JDBC drivers, pandas and
    // pyarrow. Each row is a family seen in several wordings.
    rule(
        "lock_or_serialization_conflict",
        TransientInfra,
        0.8,
        r"serializable isolation violation|deadlock victim|deadlock found|deadlock detected|try restarting transaction|rerun the transaction|possible deadlock avoided|locking attempt .{0,80}timed out|client should retry|group has (already )?rebalanced|rebalance in progress",
    ),
    rule(
        "broker_or_node_churn",
        TransientInfra,
        0.8,
        r"notleaderorfollower|not_leader_(for_partition|or_follower)|notleaderforpartition|leader_not_available|leader not available|network_exception|expiring \d+ records?|objectlosterror|due to node failure|ownerdiederror|expirediteratorexception|iterator has expired|too many fetch-failures|closedchannelexception|retrying connect to server|name ?node is in safe mode|safemodeexception|0 datanode\(s\) running|is in resize mode|being resized|host ec2 \(instance \S+\) terminated|preempted|was not found in the cluster at the polling time",
    ),
    rule(
        "transfer_broken",
        TransientInfra,
        0.8,
        r"incompleteread|connection broken|chunkedencodingerror|network_connection|curl ?code: ?(28|7|35|52|56)\b|timeout was reached|ssl syscall error|\bslow down\b|request per second limit|rate of requests exceeds",
    ),
    rule(
        "limit_or_quota_reached",
        ResourceExhaustion,
        0.82,
        r"quota exceeded|exceeding quota|exceeds? the limit of \d+|exceeded (the )?limit of \d+|limit (is|was|has been) (exceeded|reached)|concurrent execution limit|too_many_open_partitions|open writers for partitions|out of capacity|collection size exceeded|too many connections|maximum number of sessions|ora-0001[89]\b|ora-00020\b|too many clients|number of locks exceeds|too many open files|limit for (elastic )?network interfaces|subnets? (have|has) no (free |available )?ip addresses|no available ip addresses",
    ),
    rule(
        "memory_exhausted_elsewhere",
        ResourceExhaustion,
        0.88,
        r"unable to allocate \d|could not allocate (block|memory|\d)|failed to allocate \d+ byte|outofdirectmemory|out of (process |shared )?memory|memoryerror\b|ora-0403[01]\b|memory pressure|killed due to memory|netty oom|shared memory segment|resources are low on nn|is over \d+% full|disk full|not accepted any resources|unable to send heartbeats",
    ),
    rule(
        "buffer_or_frame_limit",
        ResourceExhaustion,
        0.7,
        r"kryo serialization failed: buffer overflow|kryoserializer\.buffer\.max|frame length exceeds",
    ),
    rule(
        "auth_or_tls_setup",
        PermissionConfig,
        0.88,
        r"insufficient privileges?|insufficient_permissions|permission_denied|does not have (use|select|usage|external use|create|modify|read|write|execute) |accesscontrolexception|token included in (the )?request|failed validation|missingauthenticationtoken|missing authentication token|valid \(registered\) aws access key|no valid credentials|kerberos tgt|gssexception|sasl negotiation failure|sslhandshakeexception|ssl handshake failed|pkix path building|certificate verify failed|find the specified secret|kms key was not found|tns:no listener|ora-12541\b",
    ),
    rule(
        "runtime_version_mismatch",
        PermissionConfig,
        0.9,
        r"unsupported class file major version|unsupportedclassversionerror|than that in driver|cannot run with different minor versions|does not exist in the jvm|java gateway process exited|insecure py4j gateway|scala_binary_incompatible|binary.incompatible|compiled for scala|'javapackage' object is not callable|must be set in the environment|java home not found|java_home|unsatisfiedlinkerror|java\.library\.path|not available\. +options|managedlibraryinstallfailed|library installation attempted|failed to (create|install) (runtime_env|conda environment)|installing the runtime_env",
    ),
    rule(
        "engine_setting_required",
        PermissionConfig,
        0.85,
        r"hive support is required|dynamic partition strict mode|requires a single-part namespace|requires_single_part_namespace|partition projection|projection configuration|above the max threshold|maximum-allocation-mb|argument list too long|recordtoolargeexception|max\.request\.size|location provided to save your query results is invalid|not supported in the requested availability zone|is not found\. *$|workgroup \S+ is not found",
    ),
    rule(
        "catalog_object_missing",
        PermissionConfig,
        0.86,
        r"nonexistent table|table_not_found|schema \S+ does not exist|table \S+ does not exist|(table|view) does not exist|ora-00942\b|requested resource not found|database \S+ not found|undefined_?table",
    ),
    rule(
        "engine_query_invalid",
        CodeBug,
        0.86,
        r"syntax_error|incorrect syntax near|error in your sql syntax|not properly ended|ora-0093[3]\b|ora-00911\b|zero-length delimited identifier|too_many_arguments|too many arguments for function|unexpected parameters \(|must declare the scalar variable|is not valid in the context where it is used|functionally dependent on columns in group by|only_full_group_by|must use is null or is not null|attempted to update or delete the same row|expressions are not valid in where clause|unsupported hive type|query_has_too_many_stages|are ambiguous\.|is ambiguous\.|truth value of an? \w+ is ambiguous|cannot convert column into bool|should only be created and accessed on the driver|can't adapt type|paramvalidationerror|parameter validation failed|invalid type for parameter|fail to recognize .{0,40}pattern|returned records from the lambda|returns unique record ids|arrownotimplementederror|no cast implemented",
    ),
    rule(
        "value_does_not_fit",
        DataQuality,
        0.86,
        r"longer than the length defined|hive_cursor_error|hive_bad_data|not a valid json object|invalid or unsupported utf-?8|bad utf-?8|could not serialize column|timeofdaynanos|millis overflow|zero date value|partition value (doesn't|does not) match|characters inside the partition value|range keys has exceeded|expected \d+ fields, saw \d+|expected \d+ columns, got \d+|csv parse error|could not be parsed|conflict found: field|cast_overflow|due to an overflow|outofboundsdatetime|out of bounds nanosecond|cannot convert (float )?nan|non-finite values|ora-01722\b|ora-01843\b|ora-0185[78]\b|ora-01861\b|not a valid month|(timestamp|date|time) '[^']{0,60}' is not recognized|violates foreign key constraint|cannot mix struct and non-struct|does not match format",
    ),
    rule(
        "duplicates_in_data",
        DataQuality,
        0.82,
        r"contains duplicates|duplicate entries|duplicated_map_key|duplicate map key|multiple source rows matched|same record id|duplicate key value",
    ),
    rule(
        "declared_type_differs",
        SchemaDrift,
        0.88,
        r"view is stale|incompatible parquet schema|for parquet column|declared as type|declares the column as type|hive_partition_schema_mismatch|cannot read sql type|unknown column '[^']{0,80}' in|invalid identifier|has incompatible types|unable to merge: field|was different\.|add missing field|number of columns in \w+ \(\d+\) does not match|extra data after last expected column|header does not (conform|contain the expected)|incompatibleschemaexception|would lose data|usecols do not match",
    ),
    rule(
        "input_absent",
        SourceUnavailable,
        0.85,
        r"positive number of partitions is required|no snapshot or version 0|is an empty dir|no state defined for this table|delta_read_table_without_columns|does not have any columns|hoodie table not found|unable to find a hudi table|is out of range for partition|does not host this topic-partition|does the topic exist|has already been removed|no new data|nothing to commit|the file might not exist|specified filesystem does not exist|not found under account|nofilesfound|location does not exist",
    ),
    rule(
        "run_time_limit",
        Timeout,
        0.9,
        r"duration exceeded timeout|exceeded (the )?maximum execution time|maximum (statement )?execution time exceeded|execution timed out|process timed out|command execution timed out|timeout of \d+ \w+ exceeded|exceeded timeout of|did not complete within|failed to stop within|longer than the specified deadline|activedeadlineseconds|timedout\(|timed out: running|ask timed out|asktimeoutexception|statement timeout|timeout waiting for execute reply|task timed out after",
    ),
    // ---- timeout -------------------------------------------------------
    rule(
        "job_run_timeout",
        Timeout,
        0.96,
        r#"job run timed out|job (has )?timed out|timeout: job|job exceeded \d+ minutes|ran longer than|exceeded (its |the )?(job )?timeout|job run exceeded|execution time (exceeded|out)|run time exceeded|exceeded its (specified )?timeout|failed to finish within \d+ ?(seconds|minutes|hours)|last state: timeout|(ended|finished|stopped) (in|with) (state|status) timeout|job ?run ?state[\s:="']{1,4}timeout\b"#,
    ),
    rule_unless(
        "future_timeout",
        Timeout,
        0.8,
        r"futures timed out|could not execute broadcast in|\btimeoutexception|broadcast ?timeout|gettimeouterror|deadline exceeded|task timed out|canceling statement due to statement timeout",
        CLIENT_TIMEOUT,
    ),
    rule("glue_category_timeout", Timeout, 0.7, r"error category:\s*timeout_error"),
];

#[cfg(test)]
#[path = "patterns_tests.rs"]
mod tests;
