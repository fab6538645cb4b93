//! Creates the bundle's table, as `template.yaml` defines it, on the DynamoDB endpoint in the
//! environment (`make run` points it at the local DynamoDB Local). An existing table is left alone.
//!
//! Usage: TABLE_NAME=… AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 create-local-table

#[tokio::main]
async fn main() -> Result<(), String> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_owned())?;
    let client = shared::aws::default_dynamodb_client().await;
    let existing = client
        .list_tables()
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    if existing.table_names().iter().any(|t| t == &table) {
        println!("table {table} already exists");
        return Ok(());
    }
    testkit::table_def::create_table(&client, &table).await?;
    println!("created table {table} from template.yaml");
    Ok(())
}
