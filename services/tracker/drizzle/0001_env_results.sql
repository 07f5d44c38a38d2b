CREATE TABLE `env_results` (
	`node` text NOT NULL,
	`project` text NOT NULL,
	`status` text NOT NULL,
	`checked_at` text NOT NULL,
	`revision` integer NOT NULL,
	`result` text NOT NULL,
	`stream_seq` integer NOT NULL,
	PRIMARY KEY(`node`, `project`)
);
