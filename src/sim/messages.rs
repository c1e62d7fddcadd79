//! Error text of simulated failures, drawn from real Glue, Spark and AWS
//! message families, several phrasings per family. Some families are shared
//! by several causes on purpose ("Lost executor" from OOM and from spot loss,
//! S3 404 from a late source and from a bug building the key, py4j wrappers
//! around everything), because that is what makes diagnosis hard in practice.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::sim::cause::SimCause;

/// What one failed run says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Symptom {
    /// The telling line: the JobRun error message unless the wrapper hides it.
    pub message: String,
    /// Further error-log lines (stack frames, Spark scheduler noise).
    pub error_log: Vec<String>,
    /// `FAILED` or `TIMEOUT`.
    pub state: &'static str,
}

/// Names a message may mention.
pub struct MessageContext<'a> {
    pub source_path: &'a str,
    pub table: &'a str,
    pub column: &'a str,
    pub partition_date: &'a str,
    pub timeout_minutes: u64,
}

/// The symptom of `cause`; with `shared_family` the message comes from a
/// family that other causes produce too.
pub fn symptom(cause: SimCause, shared_family: bool, context: &MessageContext<'_>, rng: &mut impl Rng) -> Symptom {
    let executor = rng.random_range(1..64);
    let host = format!("ip-10-0-{}-{}.ec2.internal", rng.random_range(0..255), rng.random_range(1..255));
    let message = if shared_family {
        shared_message(cause, executor, &host, context, rng)
    } else {
        own_message(cause, executor, context, rng)
    };
    let state = if cause == SimCause::Timeout && !shared_family { "TIMEOUT" } else { "FAILED" };
    let mut error_log = vec![format!("ERROR ApplicationMaster: User class threw exception: {message}")];
    error_log.push(stack_frame(cause, rng));
    Symptom { message, error_log, state }
}

fn own_message(cause: SimCause, executor: u32, context: &MessageContext<'_>, rng: &mut impl Rng) -> String {
    let MessageContext { source_path, table, column, partition_date, timeout_minutes } = *context;
    let options: Vec<String> = match cause {
        SimCause::TransientInfra => vec![
            format!("java.net.SocketTimeoutException: Read timed out while reading {source_path}part-00{executor}.parquet"),
            "com.amazonaws.services.s3.model.AmazonS3Exception: Please reduce your request rate. (Service: Amazon S3; Status Code: 503; Error Code: SlowDown)".to_string(),
            format!("Caused by: java.io.IOException: Failed to connect to /10.0.3.{executor}:38871"),
            "An error occurred (ThrottlingException) when calling the GetTable operation (reached max retries: 4): Rate exceeded".to_string(),
            format!("java.net.SocketException: Connection reset by peer while writing to {source_path}"),
            "An error occurred while calling o70.pyWriteDynamicFrame. DynamoDB write exceeds max retry 10".to_string(),
        ],
        SimCause::ResourceExhaustion => vec![
            "java.lang.OutOfMemoryError: Java heap space".to_string(),
            format!("Container killed by YARN for exceeding memory limits. 5.5 GB of 5.5 GB physical memory used. Consider boosting spark.yarn.executor.memoryOverhead. (executor {executor})"),
            "Diagnostics: Container is running beyond physical memory limits. Current usage: 11.2 GB of 11 GB physical memory used".to_string(),
            "An error occurred while calling o85.pyWriteDynamicFrame. error while calling spill() : No space left on device".to_string(),
            "java.lang.OutOfMemoryError: GC overhead limit exceeded".to_string(),
        ],
        SimCause::SchemaDrift => vec![
            format!("AnalysisException: cannot resolve '{column}' given input columns: [id, created_at, status]"),
            format!("org.apache.spark.sql.execution.QueryExecutionException: Parquet column cannot be converted in file {source_path}dt={partition_date}/part-00000.parquet. Column: [{column}], Expected: double, Found: BINARY"),
            format!("An error occurred while calling o172.pyWriteDynamicFrame. Incoming batch schema is not compatible with the table's one ({table})"),
            format!("org.apache.spark.sql.AnalysisException: A schema mismatch detected when writing to the Delta table {table}."),
        ],
        SimCause::DataQuality => vec![
            "org.apache.spark.SparkException: [MALFORMED_RECORD_IN_PARSING] Malformed records are detected in record parsing. Parse Mode: FAILFAST.".to_string(),
            format!("com.amazonaws.services.glue.util.FatalException: Unable to parse file: {source_path}dt={partition_date}/part-0003.csv"),
            format!("java.lang.NumberFormatException: For input string: \"12,50\" (column {column})"),
            format!("org.apache.hudi.exception.HoodieException: The value of {column} can not be null"),
        ],
        SimCause::SourceUnavailable => vec![
            format!("AnalysisException: Path does not exist: {source_path}dt={partition_date}"),
            "AnalysisException: Unable to infer schema for Parquet. It must be specified manually.".to_string(),
            format!("WARN HadoopDataSource: Skipping Partition {{}} as no new files detected @ {source_path} or path does not exist"),
            format!("java.io.FileNotFoundException: No such file or directory '{source_path}dt={partition_date}/_SUCCESS'"),
        ],
        SimCause::PermissionConfig => vec![
            format!("AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/GlueJobRole/GlueJobRunnerSession is not authorized to perform: s3:GetObject on resource: {source_path}"),
            "Role arn:aws:iam::123456789012:role/Glue_Role should be given assume role permissions for Glue Service.".to_string(),
            "GlueArgumentError: the following arguments are required: --target_path".to_string(),
            "com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers to a customer master key that does not exist or you do not have access (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException)".to_string(),
        ],
        SimCause::CodeBug => vec![
            "NameError: name 'dyf_orders' is not defined".to_string(),
            "SyntaxError: invalid syntax (job_script.py, line 88)".to_string(),
            "TypeError: 'NoneType' object is not subscriptable".to_string(),
            "ImportError: cannot import name 'ColumnProfilerRunner' from 'awsglue.transforms'".to_string(),
        ],
        SimCause::Timeout => vec![
            format!("Job run timed out after {timeout_minutes} minutes"),
            format!("Timeout: the job run exceeded its timeout of {timeout_minutes} minutes and was stopped"),
        ],
    };
    pick(&options, rng)
}

/// Families that several causes share: the message alone cannot tell them apart.
fn shared_message(
    cause: SimCause,
    executor: u32,
    host: &str,
    context: &MessageContext<'_>,
    rng: &mut impl Rng,
) -> String {
    let MessageContext { source_path, partition_date, .. } = *context;
    let lost_executor = format!("ERROR YarnClusterScheduler: Lost executor {executor} on {host}: worker lost");
    let not_found = format!(
        "com.amazonaws.services.s3.model.AmazonS3Exception: The specified key does not exist. (Service: Amazon S3; Status Code: 404; Error Code: NoSuchKey) key {source_path}dt={partition_date}/manifest.json"
    );
    let futures = "java.util.concurrent.TimeoutException: Futures timed out after [300 seconds]".to_string();
    let wrapper = format!(
        "An error occurred while calling o{}.pyWriteDynamicFrame. Job aborted due to stage failure",
        rng.random_range(100..400)
    );
    let options: Vec<String> = match cause {
        SimCause::TransientInfra => vec![lost_executor, futures],
        SimCause::ResourceExhaustion => vec![lost_executor, wrapper],
        SimCause::SourceUnavailable => vec![not_found],
        SimCause::CodeBug => vec![not_found, wrapper],
        SimCause::Timeout => vec![futures],
        SimCause::DataQuality => vec![wrapper],
        SimCause::SchemaDrift => vec![wrapper],
        SimCause::PermissionConfig => {
            vec!["Exception in User Class: com.amazonaws.SdkClientException: Unable to load credentials".to_string()]
        }
    };
    pick(&options, rng)
}

/// The generic py4j wrapper Glue puts in the JobRun error message when the
/// interesting part is only in the logs.
pub fn wrapper_message(rng: &mut impl Rng) -> String {
    let call = ["pyWriteDynamicFrame", "getDynamicFrame", "parquet", "toDF", "save"];
    format!(
        "An error occurred while calling o{}.{}. Job aborted due to stage failure: Task {} in stage {}.0 failed 4 times",
        rng.random_range(80..400),
        pick_str(&call, rng),
        rng.random_range(0..200),
        rng.random_range(1..30)
    )
}

fn stack_frame(cause: SimCause, rng: &mut impl Rng) -> String {
    let frames = match cause {
        SimCause::CodeBug | SimCause::PermissionConfig => {
            ["  File \"/tmp/job_script.py\", line 88, in <module>", "Traceback (most recent call last):"]
        }
        _ => [
            "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2454)",
            "\tat py4j.commands.CallCommand.execute(CallCommand.java:79)",
        ],
    };
    pick_str(&frames, rng).to_string()
}

fn pick(options: &[String], rng: &mut impl Rng) -> String {
    // Every family above has at least one phrasing, so `choose` is Some.
    options.choose(rng).cloned().unwrap_or_default()
}

fn pick_str<'a>(options: &[&'a str], rng: &mut impl Rng) -> &'a str {
    options.choose(rng).copied().unwrap_or_default()
}
