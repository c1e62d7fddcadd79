//! Variant phrasings of the rule families, written for these tests and in
//! no corpus: other drivers (PostgreSQL, MySQL, SQL Server, Oracle), other
//! table formats, other wrappers. A rule that only knew one literal message
//! of its family fails here. Counter-examples sit next to each family (a
//! link that never connected, a truncated file, an OOM on a lost node).

use crate::core::diagnosis::{TokenModel, classify_text_with};
use crate::core::model::FailureClass::{
    CodeBug, DataQuality, PermissionConfig, ResourceExhaustion, SchemaDrift, SourceUnavailable, Timeout,
    TransientInfra, Unknown,
};
use crate::core::model::{FailureClass, TextSource};

const VARIANTS: &[(FailureClass, &str)] = &[
    (TransientInfra, "org.postgresql.util.PSQLException: An I/O error occurred while sending to the backend."),
    (
        TransientInfra,
        "psycopg2.OperationalError: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.",
    ),
    (
        TransientInfra,
        "com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure\n\nThe last packet successfully received from the server was 1,204,511 milliseconds ago. The last packet sent successfully to the server was 1,204,512 milliseconds ago.",
    ),
    (TransientInfra, "java.sql.SQLNonTransientConnectionException: No operations allowed after connection closed."),
    (TransientInfra, "com.microsoft.sqlserver.jdbc.SQLServerException: The connection is closed."),
    (TransientInfra, "java.sql.SQLRecoverableException: No more data to read from socket"),
    (TransientInfra, "ORA-03113: end-of-file on communication channel"),
    (
        TransientInfra,
        "An error occurred while calling o230.save. : org.postgresql.util.PSQLException: This connection has been closed.",
    ),
    (TransientInfra, "pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')"),
    (
        TransientInfra,
        "Caused by: java.io.EOFException\n\tat org.postgresql.core.PGStream.receiveChar(PGStream.java:455)",
    ),
    (
        PermissionConfig,
        "com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.",
    ),
    (
        DataQuality,
        "java.io.EOFException: Unexpected end of input stream\n\tat org.apache.hadoop.io.compress.DecompressorStream.decompress(DecompressorStream.java:165)",
    ),
    (
        TransientInfra,
        "io.delta.exceptions.ConcurrentDeleteReadException: This transaction attempted to read one or more files that were deleted (for example part-0000.snappy.parquet) by a concurrent update. Please try the operation again.",
    ),
    (
        TransientInfra,
        "org.apache.iceberg.exceptions.CommitFailedException: Commit failed: Requirement failed: branch main has changed: expected id 1234 != 5678",
    ),
    (
        TransientInfra,
        "org.apache.hudi.exception.HoodieWriteConflictException: java.util.ConcurrentModificationException: Cannot resolve conflicts for overlapping writes",
    ),
    (
        TransientInfra,
        "io.delta.exceptions.MetadataChangedException: The metadata of the Delta table has been changed by a concurrent update. Please try the operation again.",
    ),
    (
        TransientInfra,
        "21/05/02 10:11:12 ERROR YarnScheduler: Lost executor 7 on ip-172-31-1-2.ec2.internal: Slave lost",
    ),
    (
        TransientInfra,
        "ray.exceptions.NodeDiedError: Task failed because the node 7a3f... where it was running has died.",
    ),
    (TransientInfra, "ray.exceptions.ActorDiedError: The actor died because its node has died. Node Id: 5d6e"),
    (ResourceExhaustion, "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory."),
    (
        ResourceExhaustion,
        "ERROR YarnScheduler: Lost executor 2 on 10.0.0.4: Container killed by YARN for exceeding memory limits. 12.4 GB of 12 GB physical memory used",
    ),
    (
        TransientInfra,
        "java.net.UnknownHostException: mydb.cluster-abc.us-east-1.rds.amazonaws.com: Name or service not known",
    ),
    (PermissionConfig, "Caused by: java.net.UnknownHostException: my-bucket.s3.null.amazonaws.com"),
    (PermissionConfig, "java.net.UnknownHostException: null"),
    (
        TransientInfra,
        r#"psycopg2.OperationalError: could not translate host name "warehouse.internal" to address: Temporary failure in name resolution"#,
    ),
    (DataQuality, "ERROR: Load into table 'orders' failed. Check 'sys_load_error_detail' system table for details."),
    (DataQuality, "com.amazon.redshift.util.RedshiftException: ERROR: Invalid digit, Value '-', Pos 0, Type: Integer"),
    (DataQuality, "java.sql.SQLException: Incorrect integer value: 'abc' for column 'qty' at row 3"),
    (DataQuality, "INVALID_CAST_ARGUMENT: Cannot cast 'n/a' to BIGINT"),
    (DataQuality, "java.lang.ArithmeticException: Decimal precision 39 exceeds max precision 38"),
    (PermissionConfig, "java.lang.IllegalArgumentException: Option 'dbtable' is required."),
    (PermissionConfig, "java.lang.IllegalArgumentException: Can not create a Path from an empty string"),
    (Unknown, "java.lang.IllegalArgumentException: Unexpected value 42"),
    (Unknown, "An error occurred while calling o88.getCatalogSource. : java.lang.NullPointerException"),
    (
        CodeBug,
        "Exception in User Class: java.lang.NullPointerException\n\tat com.acme.etl.Transform$.apply(Transform.scala:42)",
    ),
    (
        SourceUnavailable,
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 2.0 failed 4 times, most recent failure: Lost task 3.3 in stage 2.0 (TID 17) (10.0.0.8 executor 2): java.io.FileNotFoundException: No such file or directory: s3://bucket/x/part-0001.parquet",
    ),
    (
        ResourceExhaustion,
        "An error occurred while calling o99.save. Job aborted due to stage failure: Task 7 in stage 3.0 failed 4 times",
    ),
    (
        SchemaDrift,
        "Error Category: QUERY_ERROR; Spark Error Class: UNRESOLVED_COLUMN; AnalysisException: A column or function parameter with name `amt` can...",
    ),
    (
        CodeBug,
        r#"Error Category: QUERY_ERROR; Spark Error Class: MISSING_AGGREGATION; AnalysisException: The non-aggregating expression "a" is based on columns which are not participating in the GROUP BY clause."#,
    ),
    (
        SchemaDrift,
        "org.apache.hudi.exception.HoodieUpsertException: Error upserting bucketType UPDATE for partition :3\nCaused by: org.apache.hudi.exception.HoodieException: Failed to merge old record into new file for key id:5 from old file s3://lake/t/a.parquet",
    ),
    (CodeBug, "_pickle.PicklingError: Could not serialize object: TypeError: cannot pickle '_thread.RLock' object"),
    (
        CodeBug,
        "org.apache.spark.SparkException: Task not serializable\nCaused by: java.io.NotSerializableException: com.acme.Foo",
    ),
    (
        DataQuality,
        r#"org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/opt/amazon/spark/python/lib/pyspark.zip/pyspark/worker.py", line 604, in main
    process()
  File "/tmp/job.py", line 33, in parse
    return int(x)
ValueError: invalid literal for int() with base 10: 'abc'"#,
    ),
    (
        CodeBug,
        "org.apache.spark.sql.AnalysisException: expression 'orders.`amount`' is neither present in the group by, nor is it an aggregate function. Add to group by or wrap in first() (or first_value) if you don't care which value you get.",
    ),
    (
        CodeBug,
        "pyspark.sql.utils.AnalysisException: grouping expressions sequence is empty, and 'x' is not an aggregate function.",
    ),
    (CodeBug, "AnalysisException: Queries with streaming sources must be executed with writeStream.start();"),
    (
        CodeBug,
        "org.apache.spark.sql.AnalysisException: It is not allowed to use a window function inside an aggregate function. Please use the inner window function in a sub-query.",
    ),
    (Timeout, r#"Glue job "load_orders" run with Run Id "jr_1" failed. Last state: TIMEOUT."#),
    (Timeout, "The run failed to finish within 3600 seconds"),
    (
        PermissionConfig,
        "An error occurred (ExpiredToken) when calling the GetObject operation: The provided token has expired.",
    ),
    (
        PermissionConfig,
        "org.apache.hadoop.fs.s3a.AWSBadRequestException: getFileStatus on s3a://bucket/key: com.amazonaws.services.s3.model.AmazonS3Exception: Bad Request (Service: Amazon S3; Status Code: 400; Error Code: 400 Bad Request",
    ),
    (
        PermissionConfig,
        "org.apache.spark.sql.AnalysisException: This Delta operation requires the SparkSession to be configured with the DeltaSparkSessionExtension and the DeltaCatalog.",
    ),
    (
        PermissionConfig,
        "Error Category: RESOURCE_NOT_FOUND_ERROR; EntityNotFoundException: Database sales_db not found.",
    ),
    (PermissionConfig, "pyspark.sql.utils.AnalysisException: Path does not exist: hdfs://10.0.1.2:8020/user/root/None"),
    (SourceUnavailable, "pyspark.sql.utils.AnalysisException: Path does not exist: s3://bucket/orders/dt=2026-01-01"),
    (
        PermissionConfig,
        "java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection",
    ),
    (
        PermissionConfig,
        r#"Error downloading script: fatal error: An error occurred (404) when calling the HeadObject operation: Key "scripts/etl_main.py" does not exist"#,
    ),
    (
        PermissionConfig,
        "java.lang.IllegalArgumentException: java.net.URISyntaxException: Relative path in absolute URI: s3://bucket/dt=2026-01-01T00:00:00",
    ),
    (
        ResourceExhaustion,
        "ERROR YarnScheduler: Lost executor 3 on 10.0.0.9: Container marked as failed: container_1 on host: 10.0.0.9. Exit status: 143. Diagnostics: Container killed on request. Exit code is 143",
    ),
    (
        ResourceExhaustion,
        "21/01/01 ERROR TaskSchedulerImpl: Lost executor 4 on 10.0.0.5: Executor heartbeat timed out after 125000 ms",
    ),
    (
        TransientInfra,
        "com.amazonaws.services.s3.model.AmazonS3Exception: Please reduce your request rate. (Service: Amazon S3; Status Code: 503; Error Code: SlowDown)",
    ),
    (
        SchemaDrift,
        "org.apache.spark.sql.AnalysisException: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `order_total` cannot be resolved.",
    ),
    (CodeBug, "NameError: name 'glueContxt' is not defined"),
    (
        DataQuality,
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 2 in stage 1.0 failed 4 times, most recent failure: Lost task 2.3 in stage 1.0 (TID 9) (10.0.0.3 executor 1): org.apache.spark.SparkException: Malformed records are detected in record parsing. Parse Mode: FAILFAST.",
    ),
    (
        ResourceExhaustion,
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 8 in stage 9.0 failed 4 times, most recent failure: Lost task 8.3 in stage 9.0 (TID 77) (10.0.0.3 executor 5): java.lang.OutOfMemoryError: Java heap space",
    ),
    (Timeout, "JobRunState: TIMEOUT"),
    (
        Unknown,
        "An error occurred while calling o91.pyWriteDynamicFrame. : java.lang.IllegalStateException: Unexpected state",
    ),
    (PermissionConfig, "java.net.UnknownHostException: {db_host}"),
    (
        TransientInfra,
        "Caused by: org.apache.hudi.exception.HoodieWriteConflictException: java.util.ConcurrentModificationException: Cannot resolve conflicts for overlapping writes",
    ),
    (DataQuality, "java.io.EOFException: Reached the end of stream with 1024 bytes left to read"),
    (CodeBug, "org.apache.spark.sql.AnalysisException: Cannot overwrite a path that is also being read from."),
    (
        SchemaDrift,
        "org.apache.spark.sql.AnalysisException: Cannot insert into table `db`.`t` from query: not enough data columns; target table has 5 column(s) but the inserted data has 4 column(s)",
    ),
    (
        SchemaDrift,
        "pyspark.sql.utils.AnalysisException: Can't extract value from address#55: need struct type but got string;",
    ),
    // Client-side timeouts of another service are transient; the job's own
    // futures and broadcasts timing out stay `timeout`.
    (
        TransientInfra,
        "org.apache.kafka.common.errors.TimeoutException: Timeout of 30000ms expired before successfully committing offsets {orders-3=OffsetAndMetadata{offset=88}}",
    ),
    (
        TransientInfra,
        "software.amazon.awssdk.core.exception.ApiCallTimeoutException: Client execution did not complete before the specified timeout configuration: 60000 millis",
    ),
    (
        TransientInfra,
        "com.datastax.oss.driver.api.core.servererrors.ReadTimeoutException: Cassandra timeout during read query at consistency LOCAL_QUORUM (2 responses were required but only 1 replica responded)",
    ),
    (
        Timeout,
        "org.apache.spark.SparkException: Exception thrown in awaitResult: java.util.concurrent.TimeoutException: Futures timed out after [300 seconds]",
    ),
    // An STS call that was throttled or never dispatched is transient; a
    // refusal to let the caller assume the role is configuration.
    (
        TransientInfra,
        "botocore.exceptions.ClientError: An error occurred (Throttling) when calling the AssumeRole operation: Rate exceeded",
    ),
    (
        TransientInfra,
        r#"Failed to assume role via STS: DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io, source: hyper::Error(Connect, ConnectError("tcp connect error", Os { code: 110, kind: TimedOut })) } })"#,
    ),
    (
        PermissionConfig,
        "An error occurred (AccessDenied) when calling the AssumeRole operation: User: arn:aws:iam::1:user/ci is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/GlueRole",
    ),
    (PermissionConfig, "Role arn:aws:iam::1:role/GlueJobRole cannot be assumed by principal glue.amazonaws.com"),
    // A JDBC driver that times out while opening its connection never reached
    // the endpoint (configuration); a read that times out mid-query is
    // transient.
    (
        PermissionConfig,
        "org.postgresql.util.PSQLException: The connection attempt failed.\nCaused by: java.net.SocketTimeoutException: connect timed out",
    ),
    (
        PermissionConfig,
        "java.sql.SQLException: [Amazon](500150) Error opening connection: Connection timed out.\n\tat com.amazon.redshift.client.PGClient.connect(Unknown Source)\nCaused by: java.net.ConnectException: Connection timed out (Connection timed out)",
    ),
    (
        TransientInfra,
        "org.postgresql.util.PSQLException: An I/O error occurred while sending to the backend.\nCaused by: java.net.SocketTimeoutException: Read timed out",
    ),
    // Capacity limits: a subnet without free addresses, a compute pool at its
    // limit, Glue's worker limits.
    (
        ResourceExhaustion,
        "InvalidInputException: Not enough available IP addresses in subnet subnet-0a1b2c3d to launch 40 workers (Service: AWSGlueJobExecutor; Status Code: 400)",
    ),
    (
        ResourceExhaustion,
        "Spark job rejected: the capacity limit has been reached for this workspace. Cancel a running job or choose a larger capacity SKU.",
    ),
    (
        ResourceExhaustion,
        "JobRunId jr_1 failed to execute with exception Exceeded maximum number of workers for this account (Service: AWSGlueJobExecutor; Status Code: 400; Error Code: InvalidInputException)",
    ),
    // Schema drift: physical type differs, table formats refusing the writer
    // schema, column types or counts that no longer line up.
    (
        SchemaDrift,
        "Caused by: org.apache.spark.sql.execution.QueryExecutionException: Column: [order_ts], Expected: timestamp, Found: INT64",
    ),
    (SchemaDrift, "org.apache.hudi.exception.HoodieUpsertException: Failed upsert schema compatibility check"),
    (SchemaDrift, "org.apache.hudi.exception.HoodieException: Field customer_tier not found in file schema"),
    (
        SchemaDrift,
        r#"org.apache.spark.SparkException: [CANNOT_MERGE_INCOMPATIBLE_DATA_TYPE] Failed to merge incompatible data types "BIGINT" and "STRING"."#,
    ),
    (
        SchemaDrift,
        "java.sql.SQLException: Spark Dataframe and PostgreSQL table have differing column data types at column index 2",
    ),
    (
        SchemaDrift,
        "org.apache.spark.sql.AnalysisException: Possible loss of precision for target column 'amount'. Expression 'amount' (type: DOUBLE) would need to be cast to DECIMAL(10,2)",
    ),
    (SchemaDrift, "HIVE_BAD_SCHEMA: Mismatched number of columns between table and file: table has 12, file has 11"),
    // Data quality: values too long, keys or required fields that are null.
    (
        DataQuality,
        "com.microsoft.sqlserver.jdbc.SQLServerException: Received an invalid column length from the bcp client for colid 6.",
    ),
    (
        DataQuality,
        r#"java.sql.SQLException: ORA-12899: value too large for column "APP"."CUSTOMERS"."NAME" (actual: 300, maximum: 255)"#,
    ),
    (
        DataQuality,
        r#"org.apache.hudi.exception.HoodieKeyException: recordKey value: "null" for field: "order_id" cannot be null or empty."#,
    ),
    (
        DataQuality,
        "org.apache.avro.file.DataFileWriter$AppendWriteException: java.lang.NullPointerException: null of string in field email of com.acme.Customer",
    ),
    (DataQuality, "java.lang.IllegalArgumentException: Cannot write null values to non-null field 'customer_id'"),
    (
        DataQuality,
        "org.apache.spark.SparkArithmeticException: [DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0.",
    ),
    (
        CodeBug,
        r#"Traceback (most recent call last):
  File "/tmp/job.py", line 12, in safe_divide_by_zero
    return a / b
ZeroDivisionError: float division by zero"#,
    ),
    // Streaming sources that are gone, or whose data aged out.
    (
        SourceUnavailable,
        "software.amazon.awssdk.services.kinesis.model.ResourceNotFoundException: Stream clicks under account 123456789012 not found.",
    ),
    (
        SourceUnavailable,
        "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition.",
    ),
    (
        SourceUnavailable,
        "org.apache.kafka.clients.consumer.OffsetOutOfRangeException: Offsets out of range with no configured reset policy for partitions: {events-2=1200}",
    ),
    (
        PermissionConfig,
        "com.amazonaws.services.glue.model.EntityNotFoundException: Table orders not found. (Service: AWSGlue; Status Code: 400; Error Code: EntityNotFoundException)",
    ),
    (
        PermissionConfig,
        "software.amazon.awssdk.services.secretsmanager.model.ResourceNotFoundException: Secrets Manager can't find the specified secret.",
    ),
    // Job arguments and Python dependencies: the job's configuration.
    (PermissionConfig, "java.lang.RuntimeException: missing value for --target_bucket"),
    (PermissionConfig, "awsglue.utils.GlueArgumentError: argument --source_path: expected one argument"),
    (
        PermissionConfig,
        "ERROR: Failed building wheel for psycopg2\nERROR: Could not build wheels for psycopg2, which is required to install pyproject.toml-based projects",
    ),
    (
        PermissionConfig,
        "ERROR: Cannot install awswrangler==3.4.0 and pandas==1.1.5 because these package versions have conflicting dependencies. ERROR: ResolutionImpossible",
    ),
    (PermissionConfig, "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0 as it may crash."),
    (CodeBug, "ImportError: cannot import name 'DynamicFrameWriter' from 'awsglue.dynamicframe'"),
    // Plan and API misuse in the job's code.
    (
        CodeBug,
        "org.apache.spark.sql.AnalysisException: [MISSING_ATTRIBUTES.RESOLVED_ATTRIBUTE_APPEAR_IN_OPERATION] Resolved attribute(s) \"id\" missing from \"id\", \"amount\" in operator !Join Inner.",
    ),
    (
        CodeBug,
        "org.apache.spark.sql.AnalysisException: No handler for UDAF 'com.acme.udf.Median'. Use sparkSession.udf.register(...) instead.",
    ),
    // Round-1 families, in wordings of other engines and drivers.
    (TransientInfra, "ERROR: could not serialize access due to read/write dependencies among transactions"),
    (
        TransientInfra,
        "WARN NetworkClient: Error while fetching metadata with correlation id 7 : {orders=LEADER_NOT_AVAILABLE}",
    ),
    (ResourceExhaustion, "psycopg2.OperationalError: FATAL: sorry, too many clients already"),
    (ResourceExhaustion, "OSError: [Errno 24] Too many open files: '/tmp/spill-0001'"),
    // A limit on the request rate is throttling, not a quota.
    (TransientInfra, "botocore.errorfactory.LimitExceededException: Rate exceeded for GetPartitions"),
    (
        PermissionConfig,
        "javax.net.ssl.SSLHandshakeException: PKIX path building failed: unable to find valid certification path to requested target",
    ),
    (
        PermissionConfig,
        "java.lang.UnsupportedClassVersionError: com/acme/Job has been compiled by a more recent version of the Java Runtime (class file version 61.0)",
    ),
    (DataQuality, "ERROR: value too long for type character varying(32)"),
    (DataQuality, "java.sql.SQLDataException: ORA-01722: invalid number"),
    (SchemaDrift, "SQL compilation error: error line 1 at position 7 invalid identifier 'CUSTOMER_ID'"),
    (TransientInfra, "ERROR: deadlock detected DETAIL: Process 4242 waits for ShareLock on transaction 77"),
    (Timeout, "2026-12-04T10:00:00Z 1f2e Task timed out after 900.10 seconds"),
    // A socket's own connect timeout is the network, not the run's time limit.
    (TransientInfra, "java.net.SocketTimeoutException: connect timed out"),
    (
        Unknown,
        "org.antlr.v4.runtime.misc.ParseCancellationException: line 1:7 token recognition error at: '#'\n\tat com.amazonaws.services.glue.schema.io.ThrowingErrorListener.syntaxError(ThrowingErrorListener.java:15)",
    ),
];

/// The rule table's own view (no learned second opinion, no abstention):
/// these are tests of the rule families.
fn classify_text(text: &str, source: Option<TextSource>) -> crate::core::diagnosis::Classification {
    classify_text_with(&TokenModel::empty(), text, source)
}

#[test]
fn every_family_generalises_to_phrasings_outside_the_corpora() {
    let misses: Vec<String> = VARIANTS
        .iter()
        .filter_map(|(expected, text)| {
            let got = classify_text(text, Some(TextSource::ErrorLog));
            (got.class != *expected)
                .then(|| format!("expected {expected}, got {} ({:?}): {text}", got.class, got.signals.first()))
        })
        .collect();
    assert!(misses.is_empty(), "{} of {} variants missed:\n{}", misses.len(), VARIANTS.len(), misses.join("\n"));
}
