output "queue_url" {
  description = "Queue the backfill command sends to (socify backfill --queue-url)."
  value       = aws_sqs_queue.events.id
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.id
}

output "function_arn" {
  value = aws_lambda_function.socify.arn
}
